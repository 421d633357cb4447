package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
)

// player plays one stream from one edge for the whole run, reconnecting
// when its connection ends early, and measures what it receives.
type player struct {
	id      int
	r       *run
	st      *stream
	edge    string
	edgeIdx int // index of edge in the configured edges
	// last is the log index of the newest frame received (-1 before the
	// first); the run reads it while waiting for in-flight frames.
	last atomic.Int64
	res  playerResult
}

// playerResult is what a player measured; it is complete once run has
// returned.
type playerResult struct {
	startIdx  int64 // frames already sent when the player started
	firstIdx  int64 // log index of the first frame received, -1 if none
	received  int64 // distinct frames received in order with a matching payload
	duplicate int64 // frames received again or out of order
	unmatched int64 // frames whose timestamp the log does not know
	corrupt   int64 // frames whose payload differs from what was sent
	cached    int64 // frames sent before the player asked to play (a server's cache)
	rebases   int64 // times the server moved the timeline within a connection
	bytes     int64 // audio, video and data payload bytes
	stalls    int
	stallTime time.Duration
	gaps      []gap         // the first maxGaps stalls
	maxGap    time.Duration // the longest stall
	// disconnects counts connections that ended before the run did
	// (errors, timeouts, end-of-stream statuses), and failed attempts.
	disconnects int
	lastErr     error
	ttff        time.Duration // time to first frame, -1 if none
	lastRecv    time.Duration // run clock of the newest frame
	lat         histogram     // publish-to-play latency of live frames
}

// newPlayer returns player id of stream st on the edge at index edgeIdx
// of the configured edges.
func newPlayer(id int, r *run, st *stream, edgeIdx int) *player {
	p := &player{id: id, r: r, st: st, edge: r.cfg.edges[edgeIdx], edgeIdx: edgeIdx}
	p.res.firstIdx, p.res.ttff = -1, -1
	p.last.Store(-1)
	return p
}

// play runs the player until ctx is cancelled.
func (p *player) play(ctx context.Context) {
	res := &p.res
	res.startIdx = p.st.log.sent()
	begin := p.r.now()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if !sleepOrDone(ctx, nil, retryDelay) {
				return
			}
			if cfg := p.r.cfg; cfg.failover {
				p.edgeIdx = (p.edgeIdx + 1) % len(cfg.edges)
				p.edge = cfg.edges[p.edgeIdx]
			}
		}
		err := p.session(ctx, begin)
		if ctx.Err() != nil {
			return
		}
		res.disconnects++
		res.lastErr = err
	}
}

// session runs one connection: dial, connect, play and read until an
// error or the end of the run.
func (p *player) session(ctx context.Context, begin int64) error {
	r := p.r
	url := fmt.Sprintf("rtmp://%s/%s/%s", p.edge, r.cfg.app, p.st.name)
	var dl deadliner
	cfg := rtmp.ClientConfig{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err == nil {
				dl.set(nc)
			}
			return nc, err
		},
	}
	dctx, cancel := context.WithTimeout(ctx, r.cfg.playerTimeout)
	c, err := rtmp.Dial(dctx, url, cfg)
	if err == nil {
		if err = c.Connect(dctx); err == nil {
			playAt := r.now()
			if err = c.Play(dctx, ""); err == nil {
				cancel()
				return p.read(ctx, c, &dl, playAt, begin)
			}
		}
		c.Close()
	}
	cancel()
	return err
}

// read reads media until the connection fails or ctx ends the run.
func (p *player) read(ctx context.Context, c *rtmp.ClientConn, dl *deadliner, playAt, begin int64) error {
	r, res, log := p.r, &p.res, p.st.log
	// The end of the run closes the connection politely (deleteStream),
	// which also ends the pending read.
	closed := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		c.Close()
		close(closed)
	})
	defer func() {
		if stopWatch() {
			c.Close()
		} else {
			<-closed
		}
	}()
	timeout := r.cfg.playerTimeout
	dl.extend(r.now(), timeout)
	var (
		offset    uint32 // publisher timestamp minus received timestamp
		offsetSet bool
	)
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		now := r.now()
		res.bytes += int64(len(m.Payload))
		switch m.Kind {
		case rtmp.KindVideo:
			if !isCodedFrame(m.Payload) {
				continue
			}
		case rtmp.KindStatus:
			switch m.Status.Code {
			case rtmp.CodePlayStop, rtmp.CodePlayUnpublishNotify:
				return fmt.Errorf("load: player %d: %s", p.id, m.Status.Code)
			}
			continue
		default:
			continue
		}
		if now-dl.extended > int64(timeout/4) {
			dl.extend(now, timeout)
		}
		fp := fingerprint(m.Payload)
		if !offsetSet {
			// The first frame of a connection tells whether the server
			// keeps the publisher's timestamps; if not, the payload
			// finds the frame and the difference applies from then on.
			if f, _, ok := log.find(m.Timestamp); ok && f.fp == fp {
				offset, offsetSet = 0, true
			} else if f, _, ok := log.findFingerprint(fp); ok {
				offset, offsetSet = f.ts-m.Timestamp, true
			} else {
				res.unmatched++
				continue
			}
		}
		f, idx, ok := log.find(m.Timestamp + offset)
		if !ok || f.fp != fp {
			// A server may move the timeline when the stream is
			// published again, keeping each player's timestamps
			// continuous across the new publish: find the frame by its
			// payload and use the new offset from then on.
			if g, gi, found := log.findFingerprint(fp); found && gi > p.last.Load() {
				offset, f, idx, ok = g.ts-m.Timestamp, g, gi, true
				res.rebases++
			}
		}
		switch {
		case !ok:
			res.unmatched++
			continue
		case f.fp != fp:
			res.corrupt++
			continue
		case idx <= p.last.Load():
			res.duplicate++
			continue
		case idx >= log.windowEnd():
			continue // sent after the measurement window
		}
		if res.firstIdx < 0 {
			res.firstIdx = idx
			res.ttff = time.Duration(now - begin)
		} else {
			res.stall(time.Duration(now), r.cfg.stallGap)
		}
		res.received++
		res.lastRecv = time.Duration(now)
		p.last.Store(idx)
		if f.at >= playAt {
			res.lat.add(time.Duration(now - f.at))
		} else {
			res.cached++
		}
	}
}

// finish completes the result once the run has ended at runEnd (run
// clock): a player that received nothing for the last -stall-gap stalled.
func (p *player) finish(runEnd time.Duration) {
	res := &p.res
	if res.firstIdx >= 0 {
		res.stall(runEnd, p.r.cfg.stallGap)
	}
}

// stall records the time from the newest frame to now (run clock) as a
// stall if it is longer than stallGap (-stall-gap).
func (res *playerResult) stall(now, stallGap time.Duration) {
	d := now - res.lastRecv
	if d <= stallGap {
		return
	}
	res.stalls++
	res.stallTime += d
	res.maxGap = max(res.maxGap, d)
	res.gaps = addGap(res.gaps, gap{at: res.lastRecv, dur: d})
}

// expected returns the frames the player should have received: those of
// the measurement window (the first sent of them) from its first received
// frame on, or, if it received none, from when it started.
func (res *playerResult) expected(sent int64) int64 {
	if res.firstIdx >= 0 {
		return max(sent-res.firstIdx, 0)
	}
	return max(sent-res.startIdx, 0)
}

// deadliner sets read deadlines on a player's network connection so that
// a silent server ends the session after the player timeout. The
// connection is replaced when the client follows a reconnect request
// (the client dials the new server with the player's dialer).
type deadliner struct {
	mu       sync.Mutex
	conn     net.Conn
	extended int64 // run clock of the last extension; used by the reading goroutine only
}

func (d *deadliner) set(c net.Conn) {
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
}

// extend moves the read deadline timeout into the future; now is the run
// clock.
func (d *deadliner) extend(now int64, timeout time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.extended = now
	if d.conn != nil {
		d.conn.SetReadDeadline(time.Now().Add(timeout))
	}
}
