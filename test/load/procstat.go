package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is the CPU time and resident memory of a process at one
// moment, from /proc (Linux).
type procSample struct {
	cpu time.Duration // user + system time
	rss int64         // bytes
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ). It
// is 100 on every Linux architecture Go supports; the standard library has
// no sysconf to ask.
const clockTicks = 100

// readProc reads /proc/PID/stat. pid 0 means this process.
func readProc(pid int) (procSample, error) {
	if pid == 0 {
		pid = os.Getpid()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("load: process %d: %w", pid, err)
	}
	return parseProcStat(string(b))
}

// parseProcStat parses the content of /proc/PID/stat: utime and stime
// (fields 14 and 15) and rss (field 24, in pages). The command name
// (field 2) is in parentheses and may hold spaces, so fields are counted
// from the last ')'.
func parseProcStat(s string) (procSample, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("load: malformed /proc stat line %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procSample{}, fmt.Errorf("load: /proc stat line has %d fields after the name, want at least 22", len(f))
	}
	field := func(n int) (int64, error) { return strconv.ParseInt(f[n-3], 10, 64) }
	utime, err1 := field(14)
	stime, err2 := field(15)
	rss, err3 := field(24)
	if err1 != nil || err2 != nil || err3 != nil {
		return procSample{}, fmt.Errorf("load: malformed /proc stat numbers in %q", s)
	}
	return procSample{
		cpu: time.Duration(utime+stime) * time.Second / clockTicks,
		rss: rss * int64(os.Getpagesize()),
	}, nil
}
