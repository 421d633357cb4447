package auth

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// fileCheckEvery is how often a file is checked for changes, at most.
const fileCheckEvery = time.Second

// fileSource is the parsed contents of a file, read again when the file
// changes (its modification time or size). get never blocks on another
// goroutine: the one that notices it is time to check does the check,
// the others use the contents in force.
type fileSource[T any] struct {
	path  string
	what  string // "keys file", for log lines
	parse func([]byte) (T, error)
	log   *slog.Logger

	cur      atomic.Pointer[T]
	nextTry  atomic.Int64 // Unix nanoseconds of the next check
	checking atomic.Bool

	// Owned by the goroutine holding checking.
	mod     time.Time
	size    int64
	lastErr string
}

// newFileSource reads and parses the file at path; an error means the
// file cannot be read or parsed now.
func newFileSource[T any](path, what string, parse func([]byte) (T, error), log *slog.Logger) (*fileSource[T], error) {
	f := &fileSource[T]{path: path, what: what, parse: parse, log: log}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := f.load(fi); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	f.nextTry.Store(time.Now().Add(fileCheckEvery).UnixNano())
	return f, nil
}

// load reads and parses the file whose information is fi, and puts its
// contents in force.
func (f *fileSource[T]) load(fi os.FileInfo) error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	v, err := f.parse(data)
	if err != nil {
		return err
	}
	f.cur.Store(&v)
	f.mod, f.size = fi.ModTime(), fi.Size()
	return nil
}

// get returns the contents in force, after reading the file again if it
// is time to check and it changed.
func (f *fileSource[T]) get() T {
	now := time.Now()
	if now.UnixNano() >= f.nextTry.Load() && f.checking.CompareAndSwap(false, true) {
		f.check()
		f.nextTry.Store(now.Add(fileCheckEvery).UnixNano())
		f.checking.Store(false)
	}
	return *f.cur.Load()
}

// check reads the file again if it changed. A file that cannot be read or
// parsed leaves the contents in force; the problem is logged once.
func (f *fileSource[T]) check() {
	fi, err := os.Stat(f.path)
	if err == nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return
	}
	if err == nil {
		err = f.load(fi)
	}
	if err != nil {
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.log.Error("auth: "+f.what+" not reloaded; the previous contents stay in force", "file", f.path, "err", msg)
		}
		return
	}
	f.lastErr = ""
	f.log.Info("auth: "+f.what+" reloaded", "file", f.path)
}

// lines returns the lines of data that are neither empty nor comments
// (starting with '#'), with white space trimmed, and their line numbers.
func lines(data []byte) (out []string, nums []int) {
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
		nums = append(nums, i+1)
	}
	return out, nums
}
