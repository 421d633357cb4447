//go:build !unix

package rtmp

// canPeek tells whether peekReady works on this platform.
const canPeek = false

func peekReady(fd uintptr) bool { return true }
