package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/pkg/rtmp"
)

// The limits of an edge, the limit label of
// tributary_edge_limit_refusals_total: each names the setting that sets
// it.
const (
	limitConns = iota
	limitConnsPerIP
	limitPublishers
	limitPlayersPerStream
	limitPublishBitrate
	limitHandshakeTimeout
	limitConnectTimeout
	limitIdleTimeout
	numLimits
)

var limitNames = [numLimits]string{
	"max_conns", "max_conns_per_ip", "max_publishers", "max_players_per_stream",
	"max_publish_bitrate", "handshake_timeout", "connect_timeout", "idle_timeout",
}

// The publish bit rate limit is measured over bitrateWindow, in
// bitrateBuckets steps; within any window a publisher may send the
// limit's worth of bitrateWindow+bitrateBurst, the burst being the
// allowance for keyframes and for what an encoder sends at once when it
// starts.
const (
	bitrateWindow  = 5 * time.Second
	bitrateBurst   = time.Second
	bitrateBuckets = 20
)

// limitLogPeriod is how often at most a refusal by one limit is logged:
// the first at once, the others of the period as one line with their
// count at its end.
const limitLogPeriod = time.Second

// Refusals of publishes and plays by a limit.
var (
	errTooManyPlayers   = errors.New("edge: too many players of the stream on this edge")
	errBitrateExceeded  = errors.New("edge: publish bit rate over the limit")
	errTooManyPublishes = errors.New("edge: too many publishers on this edge")
)

// limits is an Edge's state of its connection and stream limits.
type limits struct {
	// refused counts refusals by limit.
	refused [numLimits]atomic.Uint64
	// publishers counts the publishes that hold a slot: claiming, or
	// accepted and not ended.
	publishers atomic.Int64

	mu    sync.Mutex // guards conns and perIP
	conns int
	perIP map[netip.Prefix]int

	log rateLog
}

// clientPrefix returns the address a per-client limit counts a peer
// under: its IPv4 address, or the /64 of its IPv6 address. ok is false
// for an address that is not IP.
func clientPrefix(a net.Addr) (p netip.Prefix, ok bool) {
	var ip netip.Addr
	if ta, isTCP := a.(*net.TCPAddr); isTCP {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// admitConn counts a new connection from remote, unless it is over the
// total limit max or the per-client limit perIP (0: no limit); it returns
// the limit that refused it, or -1 and the function that uncounts it.
func (l *limits) admitConn(remote net.Addr, max, perIP int) (refusedBy int, release func()) {
	key, keyed := clientPrefix(remote)
	keyed = keyed && perIP > 0
	l.mu.Lock()
	defer l.mu.Unlock()
	if max > 0 && l.conns >= max {
		return limitConns, nil
	}
	if keyed && l.perIP[key] >= perIP {
		return limitConnsPerIP, nil
	}
	l.conns++
	if keyed {
		if l.perIP == nil {
			l.perIP = make(map[netip.Prefix]int)
		}
		l.perIP[key]++
	}
	return -1, sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.conns--
		if keyed {
			if l.perIP[key]--; l.perIP[key] <= 0 {
				delete(l.perIP, key)
			}
		}
	})
}

// takePublisher takes a publisher slot unless max (0: no limit) are
// taken.
func (l *limits) takePublisher(max int) bool {
	for {
		n := l.publishers.Load()
		if max > 0 && n >= int64(max) {
			return false
		}
		if l.publishers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// releasePublisher gives a publisher slot back.
func (l *limits) releasePublisher() { l.publishers.Add(-1) }

// limitedListener counts the connections it accepts against the edge's
// connection limits and closes, at once, those over them: RTMP has no way
// to answer before the handshake, and an answer would cost what the
// limits protect.
type limitedListener struct {
	net.Listener
	e *Edge
}

// Accept returns the next connection within the limits.
func (ln *limitedListener) Accept() (net.Conn, error) {
	e := ln.e
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		by, release := e.lim.admitConn(c.RemoteAddr(), e.cfg.MaxConns, e.cfg.MaxConnsPerIP)
		if by < 0 {
			return &limitedConn{Conn: c, release: release}, nil
		}
		c.Close()
		max, why := e.cfg.MaxConns, "too many connections"
		if by == limitConnsPerIP {
			max, why = e.cfg.MaxConnsPerIP, "too many connections from this client address"
		}
		e.refuse(by, e.log, "connection refused", "remote", c.RemoteAddr().String(), "reason", why, limitNames[by], max)
	}
}

// limitedConn is a connection counted by a limitedListener; Close
// uncounts it.
type limitedConn struct {
	net.Conn
	release func()
}

// Close closes the connection and uncounts it.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// NetConn returns the connection c wraps.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// refuse counts a refusal by limit and logs it at Warn on log with msg and
// attrs, at most once per limitLogPeriod for each limit: the refusals
// that follow within the period are logged together, with their count, at
// its end.
func (e *Edge) refuse(limit int, log *slog.Logger, msg string, attrs ...any) {
	e.lim.refused[limit].Add(1)
	name := limitNames[limit]
	e.lim.log.event(name, func() {
		log.Warn(msg, append(attrs, "limit", name)...)
	}, func(n int) {
		e.log.Warn(msg, "limit", name, "more", n, "within", limitLogPeriod)
	})
}

// onConnClose is the rtmp.Server's OnClose: it counts the connections
// closed by a timeout, and logs them and the other connections that ended
// abnormally before their connect command at most once per second by kind,
// so that a flood of slow or broken peers does not flood the log. It
// returns whether the server logs the close itself.
func (e *Edge) onConnClose(info rtmp.CloseInfo) bool {
	limit := -1
	switch info.Timeout {
	case rtmp.TimeoutHandshake:
		limit = limitHandshakeTimeout
	case rtmp.TimeoutConnect:
		limit = limitConnectTimeout
	case rtmp.TimeoutIdle:
		// Or a write to a peer that stopped reading, past the write
		// timeout.
		limit = limitIdleTimeout
	}
	if limit >= 0 {
		e.refuse(limit, e.log, "connection closed", "remote", info.Remote, "reason", info.Reason,
			"duration", info.Duration.Round(time.Millisecond))
		return false
	}
	if info.Connected || !info.Abnormal() {
		return true
	}
	const key = "error_before_connect"
	e.lim.log.event(key, func() {
		e.log.Warn("connection closed", "remote", info.Remote, "reason", info.Reason, "kind", key)
	}, func(n int) {
		e.log.Warn("connection closed", "kind", key, "more", n, "within", limitLogPeriod)
	})
	return false
}

// limitPlayers is the players-per-stream check of acquireRelay: nil when r
// may take one more player.
func (e *Edge) limitPlayers(r *relay) error {
	if max := e.cfg.MaxPlayersPerStream; max > 0 && r.players >= max {
		return errTooManyPlayers
	}
	return nil
}

// refusePublish answers a publish over the publishers limit.
func (s *session) refusePublish(req *rtmp.PublishRequest, span trace.Span, log *slog.Logger) error {
	e := s.e
	e.counter.publishesRejected.Add(1)
	e.refuse(limitPublishers, log, "publish rejected", "reason", errTooManyPublishes.Error(),
		limitNames[limitPublishers], e.cfg.MaxPublishers)
	span.SetAttributes(keyStatusCode.String(rtmp.CodePublishFailed), keyRejectReason.String(errTooManyPublishes.Error()))
	err := s.conn.RejectPublish(req, rtmp.CodePublishFailed, "This server has too many publishers; publish again later or elsewhere.")
	span.End()
	return err
}

// refusePlay answers a play over the players-per-stream limit.
func (s *session) refusePlay(req *rtmp.PlayRequest, span trace.Span, log *slog.Logger) error {
	e := s.e
	e.counter.playsRejected.Add(1)
	e.refuse(limitPlayersPerStream, log, "play rejected", "reason", errTooManyPlayers.Error(),
		limitNames[limitPlayersPerStream], e.cfg.MaxPlayersPerStream)
	span.SetAttributes(keyStatusCode.String(rtmp.CodePlayFailed), keyRejectReason.String(errTooManyPlayers.Error()))
	err := s.conn.RejectPlay(req, rtmp.CodePlayFailed, "This stream has too many players on this server; play again later or elsewhere.")
	span.End()
	return err
}

// overBitrate disconnects the publisher of p, on message stream id, for
// sending faster than the publish bit rate limit.
func (s *session) overBitrate(p *publication, id uint32) error {
	e := s.e
	limit := formatBitrate(e.cfg.MaxPublishBitrate)
	err := fmt.Errorf("%w of %s", errBitrateExceeded, limit)
	e.refuse(limitPublishBitrate, p.log, "publisher disconnected", "reason", err.Error(),
		"received", p.rate.sum, "window", bitrateWindow)
	p.span.SetStatus(codes.Error, err.Error())
	s.conn.SendStatus(id, rtmp.LevelError, rtmp.CodePublishFailed,
		"The publish bit rate is over this server's limit of "+limit+".")
	// The stream leaves the bus now; the connection closes once the
	// status had time to arrive.
	s.unpublish(id, false, err.Error(), err)
	s.closeAfterStatus(err)
	return nil
}

// newRateMeter returns the meter of a publication under the edge's
// publish bit rate limit, or nil without a limit.
func (e *Edge) newRateMeter() *rateMeter {
	bps := e.cfg.MaxPublishBitrate
	if bps <= 0 {
		return nil
	}
	return &rateMeter{
		allowed: int64(float64(bps) / 8 * (bitrateWindow + bitrateBurst).Seconds()),
		step:    bitrateWindow / bitrateBuckets,
		start:   e.now(),
	}
}

// formatBitrate writes a bit rate in bit/s with the largest decimal unit
// that divides it: 100Mbps, 2500kbps, 1200bps.
func formatBitrate(bps int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if bps != 0 && bps%u.size == 0 {
			return strconv.FormatInt(bps/u.size, 10) + u.unit + "bps"
		}
	}
	return strconv.FormatInt(bps, 10) + "bps"
}

// rateMeter sums the bytes received over a sliding window made of
// bitrateBuckets steps. It belongs to the session's goroutine.
type rateMeter struct {
	allowed int64         // the most bytes a window may hold
	step    time.Duration // the length of a bucket
	start   time.Time

	buckets [bitrateBuckets]int64
	cur     int64 // the number of the newest bucket since start
	sum     int64 // the bytes in the buckets
}

// add counts n bytes received at now and reports whether the window is
// still within the limit.
func (m *rateMeter) add(now time.Time, n int) bool {
	b := int64(now.Sub(m.start) / m.step)
	if b > m.cur {
		// Empty the buckets that left the window.
		for i := m.cur + 1; i <= b && i <= m.cur+bitrateBuckets; i++ {
			m.sum -= m.buckets[i%bitrateBuckets]
			m.buckets[i%bitrateBuckets] = 0
		}
		m.cur = b
	}
	m.buckets[m.cur%bitrateBuckets] += int64(n)
	m.sum += int64(n)
	return m.sum <= m.allowed
}

// rateLog logs events by key at most once per limitLogPeriod: the first
// event of a key quiet for a period at once, the events that follow
// within the period as one summary at its end. Keys must be few: their
// state is kept.
type rateLog struct {
	mu     sync.Mutex
	cond   sync.Cond // signalled when a summary has been logged
	keys   map[string]*rateLogKey
	firing int // summaries being logged
}

// rateLogKey is the state of one key of a rateLog.
type rateLogKey struct {
	last    time.Time // when the latest line was logged
	n       int       // the events since, not logged
	summary func(n int)
	timer   *time.Timer // logs the summary; nil when none is due
}

// event logs an event of key: line logs it alone, summary logs n of them
// together.
func (r *rateLog) event(key string, line func(), summary func(n int)) {
	r.mu.Lock()
	if r.keys == nil {
		r.keys = make(map[string]*rateLogKey)
		r.cond.L = &r.mu
	}
	k := r.keys[key]
	if k == nil {
		k = &rateLogKey{}
		r.keys[key] = k
	}
	now := time.Now()
	if k.timer == nil && (k.last.IsZero() || now.Sub(k.last) >= limitLogPeriod) {
		k.last = now
		r.mu.Unlock()
		line()
		return
	}
	k.n++
	k.summary = summary
	if k.timer == nil {
		k.timer = time.AfterFunc(k.last.Add(limitLogPeriod).Sub(now), func() { r.fire(k) })
	}
	r.mu.Unlock()
}

// fire logs the summary of k.
func (r *rateLog) fire(k *rateLogKey) {
	r.mu.Lock()
	if k.timer == nil {
		r.mu.Unlock()
		return
	}
	n, summary := k.n, k.summary
	k.n, k.summary, k.timer = 0, nil, nil
	k.last = time.Now()
	r.firing++
	r.mu.Unlock()
	summary(n)
	r.mu.Lock()
	r.firing--
	r.cond.Broadcast()
	r.mu.Unlock()
}

// flush logs the summaries due now rather than at the end of their
// period, and returns once every summary has been logged.
func (r *rateLog) flush() {
	r.mu.Lock()
	if r.keys == nil {
		r.mu.Unlock()
		return
	}
	var due []func()
	for _, k := range r.keys {
		if k.timer != nil && k.timer.Stop() {
			n, summary := k.n, k.summary
			due = append(due, func() { summary(n) })
			k.n, k.summary, k.timer = 0, nil, nil
		}
	}
	r.mu.Unlock()
	for _, f := range due {
		f()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.pendingLocked() {
		r.cond.Wait()
	}
}

// pendingLocked reports whether a summary is due or being logged.
func (r *rateLog) pendingLocked() bool {
	if r.firing > 0 {
		return true
	}
	for _, k := range r.keys {
		if k.timer != nil {
			return true
		}
	}
	return false
}
