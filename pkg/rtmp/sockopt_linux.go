package rtmp

import "syscall"

// tcpNotSentLowat is TCP_NOTSENT_LOWAT (linux/tcp.h).
const tcpNotSentLowat = 25

func setsockoptInt(fd uintptr, level, opt, value int) error {
	return syscall.SetsockoptInt(int(fd), level, opt, value)
}
