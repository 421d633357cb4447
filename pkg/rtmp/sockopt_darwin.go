package rtmp

import "syscall"

// tcpNotSentLowat is TCP_NOTSENT_LOWAT (netinet/tcp.h).
const tcpNotSentLowat = 0x201

func setsockoptInt(fd uintptr, level, opt, value int) error {
	return syscall.SetsockoptInt(int(fd), level, opt, value)
}
