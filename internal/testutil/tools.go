package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") != "" }

// RequireTool returns the path of the named executable. When it is missing
// the test is skipped, or failed under CI.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if InCI() {
		tb.Fatalf("%s is required in CI but not installed (run scripts/deps.sh): %v", name, err)
	}
	tb.Skipf("%s not installed; run `make deps` (or `make test`) to install it", name)
	return ""
}

// MainWithTempDir is the body of a TestMain whose package builds programs
// for its tests: it creates a temporary directory named after prefix,
// stores its path in *dir, runs the tests and removes the directory. It
// returns the exit code for os.Exit.
func MainWithTempDir(m *testing.M, prefix string, dir *string) int {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	defer os.RemoveAll(d)
	return m.Run()
}
