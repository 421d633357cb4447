//go:build linux

package testutil_test

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// TestProc checks the process handling of the package on small Node.js
// scripts.
func TestProc(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "node")
	ctx := t.Context()

	t.Run("exit-status", func(t *testing.T) {
		t.Parallel()
		ok := testutil.RunNodeScript(t, ctx, `console.log("fine")`)
		if err := ok.Wait(30 * time.Second); err != nil {
			t.Errorf("Wait after exit 0: %v", err)
		}
		if got := ok.Stderr(); got != "fine\n" {
			t.Errorf("Stderr() = %q, want %q", got, "fine\n")
		}
		bad := testutil.RunNodeScript(t, ctx, `console.error("broken"); process.exit(3)`)
		err := bad.Wait(30 * time.Second)
		if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "broken") {
			t.Errorf("Wait after exit 3 = %v, want the status and the log tail", err)
		}
	})

	t.Run("wait-timeout-kills", func(t *testing.T) {
		t.Parallel()
		p := testutil.RunNodeScript(t, ctx, `setInterval(() => {}, 1000)`)
		start := time.Now()
		err := p.Wait(300 * time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "did not exit") {
			t.Errorf("Wait on a process that runs on = %v, want a timeout error", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Wait took %v after its timeout", d)
		}
	})

	t.Run("wait-stderr", func(t *testing.T) {
		t.Parallel()
		p := testutil.RunNodeScript(t, ctx, `setTimeout(() => console.error("ready now"), 200); setInterval(() => {}, 1000)`)
		if err := p.WaitStderr("ready now", 30*time.Second); err != nil {
			t.Error(err)
		}
		q := testutil.RunNodeScript(t, ctx, `console.log("something else")`)
		if err := q.WaitStderr("ready now", 30*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
			t.Errorf("WaitStderr on a process that exits without the text = %v, want an error", err)
		}
		r := testutil.RunNodeScript(t, ctx, `setInterval(() => {}, 1000)`)
		if err := r.WaitStderr("ready now", 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "within") {
			t.Errorf("WaitStderr past its timeout = %v, want an error", err)
		}
	})

	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		polite := testutil.RunNodeScript(t, ctx, `
process.on("SIGINT", () => { console.log("finishing"); process.exit(0); });
console.log("running");
setInterval(() => {}, 1000);`)
		if err := polite.WaitStderr("running", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := polite.Stop(30 * time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if !strings.Contains(polite.Stderr(), "finishing") {
			t.Error("the process did not see SIGINT")
		}
		stubborn := testutil.RunNodeScript(t, ctx, `
process.on("SIGINT", () => console.log("ignored"));
console.log("running");
setInterval(() => {}, 1000);`)
		if err := stubborn.WaitStderr("running", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := stubborn.Stop(300 * time.Millisecond); err == nil {
			t.Error("Stop of a process that ignores SIGINT returned nil, want the kill reported")
		}
	})

	t.Run("cleanup-kills-the-process-group", func(t *testing.T) {
		t.Parallel()
		var pids []int
		t.Run("start", func(t *testing.T) {
			// The script starts a child that would run for a minute and
			// then lingers itself; the test ends without waiting.
			p := testutil.RunNodeScript(t, ctx, `
const { spawn } = require("child_process");
const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
console.log("pids " + process.pid + " " + child.pid);
setInterval(() => {}, 1000);`)
			if err := p.WaitStderr("pids ", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(p.Stderr()), "pids ")) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("bad pid %q in %q", f, p.Stderr())
				}
				pids = append(pids, pid)
			}
		})
		if len(pids) != 2 {
			t.Fatalf("got pids %v, want the script's and its child's", pids)
		}
		// The script was reaped by the package; its child, adopted by init
		// or a subreaper, must have been killed with the group (a signal
		// takes effect when the process next runs: allow for that).
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for _, pid := range pids {
			for running(pid) {
				select {
				case <-deadline:
					t.Fatalf("process %d still runs after the test's cleanup", pid)
				case <-tick.C:
				}
			}
		}
	})
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
