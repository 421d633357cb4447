//go:build unix

package rtmp

import "syscall"

// canPeek tells whether peekReady works on this platform.
const canPeek = true

// peekReady reports whether the socket fd has data or an end to read,
// without reading it: false makes the runtime wait until it is readable.
func peekReady(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
}
