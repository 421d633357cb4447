package testutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stopGrace is how long a process may take to exit after the polite signal
// before its process group is killed.
const stopGrace = 3 * time.Second

// pollInterval is how often readiness checks look again.
const pollInterval = 10 * time.Millisecond

// Proc is a child process started by a function of this package. It runs in
// its own process group, writes its stdout and stderr to a log file in the
// test's temporary directory, and is stopped when the test ends.
type Proc struct {
	name    string
	logPath string
	pid     int
	done    chan struct{} // closed once the process has exited
	err     error         // exit status; read only after done is closed
}

// StartCommand starts the program at path with args as a child process
// bound to tb, like the servers and clients of this package: its output goes
// to a log shown when the test fails, and it is stopped when the test ends.
// A nil ctx means the process lives until the test's cleanup; otherwise
// cancelling ctx kills its process group.
func StartCommand(tb testing.TB, ctx context.Context, name, path string, args ...string) *Proc {
	tb.Helper()
	return startProc(tb, ctx, name, path, args...)
}

// startProc starts path with args as a child process bound to tb, in the
// test's working directory. A nil ctx means the process lives until the
// test's cleanup; otherwise cancelling ctx kills its process group.
func startProc(tb testing.TB, ctx context.Context, name, path string, args ...string) *Proc {
	tb.Helper()
	dir := tb.TempDir()
	p := &Proc{
		name:    name,
		logPath: filepath.Join(dir, name+".log"),
		done:    make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		tb.Fatalf("create log of %s: %v", name, err)
	}
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, path, args...)
		cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessGroup(cmd)
	err = cmd.Start()
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		// A process that ignores the polite signal is killed; either way
		// nothing of its group outlives the test.
		if !p.exited() {
			_ = terminateGroup(p.pid)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				_ = killGroup(p.pid)
				<-p.done
			}
		}
		_ = killGroup(p.pid) // children left behind by the leader
		if tb.Failed() {
			tb.Logf("%s (%s %s) log tail:\n%s", p.name, path, strings.Join(args, " "), p.tail())
		}
	})
	return p
}

// Wait waits for the process to exit and returns nil if it exited with
// status 0. If it does not exit within timeout (zero or less means no
// limit) its process group is killed and Wait returns an error. Errors carry
// the tail of the process log.
func (p *Proc) Wait(timeout time.Duration) error {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-p.done:
	case <-expired:
		_ = killGroup(p.pid)
		<-p.done
		return fmt.Errorf("%s did not exit within %v (killed); log tail:\n%s", p.name, timeout, p.tail())
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w; log tail:\n%s", p.name, p.err, p.tail())
	}
	return nil
}

// Stop asks the process to finish by sending it SIGINT (ffmpeg then
// finalises its output), waits up to timeout and then kills its process
// group. It returns an error only if the process had to be killed; the
// exit status after SIGINT is not an error.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = interrupt(p.pid)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = killGroup(p.pid)
		<-p.done
		return fmt.Errorf("%s did not stop within %v after SIGINT (killed); log tail:\n%s", p.name, timeout, p.tail())
	}
}

// Kill kills the process and everything in its process group with SIGKILL
// (kill -9: no chance to clean up) and waits until it has exited.
func (p *Proc) Kill() {
	_ = killGroup(p.pid)
	<-p.done
}

// PID returns the process id.
func (p *Proc) PID() int { return p.pid }

// WaitStderr waits until the process log (its stdout and stderr) contains
// substr. It returns an error if the process exits first or timeout passes.
func (p *Proc) WaitStderr(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	want := []byte(substr)
	for {
		if b, _ := os.ReadFile(p.logPath); bytes.Contains(b, want) {
			return nil
		}
		select {
		case <-p.done:
			// The process may have logged the text just before exiting.
			if b, _ := os.ReadFile(p.logPath); bytes.Contains(b, want) {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before logging %q; log tail:\n%s", p.name, p.err, substr, p.tail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not log %q within %v; log tail:\n%s", p.name, substr, timeout, p.tail())
		}
	}
}

// Stderr returns everything the process has written so far to its stdout
// and stderr.
func (p *Proc) Stderr() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log of %s unreadable: %v)", p.name, err)
	}
	return string(b)
}

// exited reports whether the process has exited.
func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process log.
func (p *Proc) tail() string { return tailOf(p.Stderr(), 40, 6000) }

// tailOf returns at most the last maxLines lines and maxBytes bytes of s.
func tailOf(s string, maxLines, maxBytes int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > maxBytes {
		s = "..." + s[len(s)-maxBytes:]
	}
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = append([]string{"..."}, lines[len(lines)-maxLines:]...)
	}
	return strings.Join(lines, "\n")
}
