//go:build !linux && !darwin

package rtmp

// tcpNotSentLowat is 0 where the option is unknown.
const tcpNotSentLowat = 0

func setsockoptInt(fd uintptr, level, opt, value int) error { return errNoLowWater }
