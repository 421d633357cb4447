//go:build !unix

package testutil

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups do not exist.
func setProcessGroup(*exec.Cmd) {}

// terminateGroup kills the process pid (no process groups here).
func terminateGroup(pid int) error { return killGroup(pid) }

// killGroup kills the process pid (no process groups here).
func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// interrupt kills the process pid: there is no SIGINT to send here.
func interrupt(pid int) error { return killGroup(pid) }

// processAlive conservatively reports every process as alive, so that no
// media cache directory is ever removed while it might be in use.
func processAlive(int) bool { return true }
