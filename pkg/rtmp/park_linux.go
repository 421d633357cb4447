//go:build linux

package rtmp

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// On Linux a parked connection costs no goroutine: its socket joins an
// epoll instance of the package's own (the lot), which the runtime's
// poller watches for one goroutine. That goroutine starts the resumed
// handlers. A connection whose socket cannot join (or a failed lot) parks
// on a goroutine of its own, as on other platforms.

// lot holds the parked connections.
type lot struct {
	ep     int // epoll instance; its events carry a parking's id
	mu     sync.Mutex
	next   uint64
	parked map[uint64]*parker
	// sweeper ends the parkings whose idle deadline passed, every
	// sweepEvery while any is parked; sweeping tells it is scheduled.
	sweeper  *time.Timer
	sweeping bool
}

// sweepEvery is how often the lot looks for parkings past their idle
// deadline: an idle timeout ends a parked connection up to this late. One
// timer for all costs less than one per connection.
const sweepEvery = 250 * time.Millisecond

var (
	theLot     atomic.Pointer[lot]
	theLotOnce sync.Once
)

// parkingLot returns the lot, or nil when Linux refused one.
func parkingLot() *lot {
	theLotOnce.Do(func() { theLot.Store(newLot()) })
	return theLot.Load()
}

func newLot() *lot {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(ep, true); err != nil {
		syscall.Close(ep)
		return nil
	}
	// A non-blocking descriptor makes a file the runtime's poller watches.
	f := os.NewFile(uintptr(ep), "rtmp-parked")
	if f.SetReadDeadline(time.Time{}) != nil { // not watched
		f.Close()
		return nil
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	l := &lot{ep: ep, parked: make(map[uint64]*parker)}
	go l.run(f, raw)
	return l
}

// run waits for parked sockets that became readable and resumes their
// connections. It runs as long as the process.
func (l *lot) run(f *os.File, raw syscall.RawConn) {
	defer f.Close() // keeps f, and the descriptor, alive
	var evs [64]syscall.EpollEvent
	for {
		var n int
		err := raw.Read(func(fd uintptr) bool {
			var err error
			n, err = syscall.EpollWait(int(fd), evs[:], 0)
			return n > 0 || (err != nil && err != syscall.EINTR)
		})
		if err != nil {
			return // cannot happen while f is open
		}
		for i := range max(n, 0) {
			id := uint64(uint32(evs[i].Fd)) | uint64(uint32(evs[i].Pad))<<32
			if p := l.take(id); p != nil {
				go p.resumed()
			}
		}
	}
}

// take removes the parking id from the lot and returns its connection, or
// nil when it is no longer parked there (the sweeper, a close or an earlier
// event took it).
func (l *lot) take(id uint64) *parker {
	l.mu.Lock()
	p := l.parked[id]
	if p != nil {
		delete(l.parked, id)
		p.id = 0
	}
	l.mu.Unlock()
	return p
}

// park parks the connection of p, which has no input buffered, until its
// socket is readable, its idle deadline passes or it is closed; then
// p.resume runs on a new goroutine.
func (p *parker) park() {
	if l := parkingLot(); l != nil && l.add(p) {
		return
	}
	go p.wait()
}

// add parks p in the lot. It returns false when the socket could not
// join the lot's epoll instance, or the connection is closing: a close
// that came first found nothing in the lot to resume.
func (l *lot) add(p *parker) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Level-triggered, once: input that arrived before this call is
	// reported at once. An id is never used twice, so that an event the
	// lot's goroutine took before a DEL below resumes nothing.
	l.next++
	id := l.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	err := p.raw.Control(func(fd uintptr) {
		if p.joined {
			cerr = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		} else {
			cerr = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil || cerr != nil {
		return false
	}
	p.joined = true
	if p.sc.closingTransport() {
		// Disarm what was just armed; an event already queued finds no
		// parking under id.
		p.raw.Control(func(fd uintptr) {
			syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
		p.joined = false
		return false
	}
	l.parked[id] = p
	p.id = id
	p.deadline = 0
	if d := p.tc.readDeadline(); !d.IsZero() {
		p.deadline = d.UnixNano()
		if !l.sweeping {
			l.sweeping = true
			if l.sweeper == nil {
				l.sweeper = time.AfterFunc(sweepEvery, l.sweep)
			} else {
				l.sweeper.Reset(sweepEvery)
			}
		}
	}
	return true
}

// sweep ends the parkings whose idle deadline has passed: their next
// read fails with the deadline error.
func (l *lot) sweep() {
	now := time.Now().UnixNano()
	var expired []*parker
	l.mu.Lock()
	waiting := false
	for id, p := range l.parked {
		switch {
		case p.deadline == 0:
		case p.deadline <= now:
			delete(l.parked, id)
			p.id = 0
			expired = append(expired, p)
		default:
			waiting = true
		}
	}
	l.sweeping = waiting
	if waiting {
		l.sweeper.Reset(sweepEvery)
	}
	l.mu.Unlock()
	for _, p := range expired {
		p.timedOut()
		go p.resumed()
	}
}

// unpark takes p out of the lot when it is parked there, for a close of
// its connection, which the lot would not see: it reports whether the
// caller must then resume it. The caller has marked the connection as
// closing, so add parks it no more.
func (p *parker) unpark() bool {
	l := theLot.Load()
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.id == 0 {
		return false
	}
	delete(l.parked, p.id)
	p.id = 0
	return true
}

// lotSize returns how many connections are parked in the lot.
func lotSize() int {
	l := theLot.Load()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}
