package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Publisher pacing.
const (
	// lateAfter is how far behind its schedule a tag may be sent before it
	// counts as late: then the tool, not the server, is the bottleneck.
	lateAfter = 100 * time.Millisecond
	// retryDelay is the pause before a publisher or player connects again
	// after losing its connection.
	retryDelay = 500 * time.Millisecond
)

// stream is one published stream: its name, its publisher and the log of
// the video frames sent on it.
type stream struct {
	name string
	edge string
	// edgeIdx is the index of edge in the configured edges (with
	// -publish-to, that of the first edge, unused).
	edgeIdx int
	log     *sentLog
	// window is the number of frames in the measurement window, set when
	// the window closes.
	window int64
	pub    publisherResult
}

// publisherResult is what a publisher reports once it has returned.
type publisherResult struct {
	bytesSent   int64 // tag bodies
	late        int64 // tags sent more than lateAfter behind schedule
	maxLag      time.Duration
	disconnects int
	err         error // why the last connection failed, if it did
	// outages are the times the stream was not published: from a lost
	// connection (run clock) to the next successful publish, the first
	// maxGaps of them.
	outages []gap
	outageN int
	lostAt  time.Duration // run clock of the loss of the connection, -1 while publishing
	longest time.Duration // longest outage
}

// gap is a stretch of the run clock without media: a player's stall, a
// publisher's outage.
type gap struct {
	at  time.Duration // when it began (run clock)
	dur time.Duration
}

// maxGaps caps the gaps kept per player or stream for the JSON summary;
// counts and the longest are kept in full.
const maxGaps = 16

// addGap records g in list (up to maxGaps).
func addGap(list []gap, g gap) []gap {
	if len(list) < maxGaps {
		list = append(list, g)
	}
	return list
}

// publisher sends the input file on one stream in real time, looping it
// with continuous timestamps, until stop is closed.
type publisher struct {
	r     *run
	st    *stream
	ready chan error // receives nil once the first frame is sent, or the error that prevented it
}

// publish runs the publisher until stop is closed or ctx is cancelled.
func (p *publisher) publish(ctx context.Context, stop <-chan struct{}) {
	r, st := p.r, p.st
	res := &st.pub
	var (
		conn    *rtmp.ClientConn
		start   time.Time // when timestamp 0 was due
		cur     = cursor{m: r.media}
		readyCh = p.ready
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	res.lostAt = -1
	defer func() {
		if readyCh != nil {
			err := errors.Join(res.err, ctx.Err())
			if err == nil {
				err = errors.New("stopped before the first frame")
			}
			readyCh <- fmt.Errorf("load: publisher %s: %w", st.name, err)
		}
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if conn == nil {
			c, err := p.connect(ctx, fmt.Sprintf("rtmp://%s/%s/%s", st.edge, r.cfg.app, st.name))
			if err != nil {
				res.err = err
				if readyCh != nil {
					// The first connection must work: without a stream
					// there is nothing to measure.
					return
				}
				res.disconnects++
				p.markLost()
				if !sleepOrDone(ctx, stop, retryDelay) {
					return
				}
				continue
			}
			conn = c
			if res.lostAt >= 0 {
				o := gap{at: res.lostAt, dur: time.Duration(r.now()) - res.lostAt}
				res.outages = addGap(res.outages, o)
				res.outageN++
				res.longest = max(res.longest, o.dur)
				res.lostAt = -1
			}
			if start.IsZero() {
				start = time.Now()
			} else {
				// Like a live encoder, drop what fell due while
				// disconnected instead of sending it in a burst.
				cur.skipUntil(uint32(time.Since(start) / time.Millisecond))
			}
			// Metadata and sequence headers go first on every
			// connection, stamped with the current position.
			if err := p.sendSetup(conn, cur.ts()); err != nil {
				conn = p.lost(conn, err)
				continue
			}
		}
		t, ts := cur.next()
		due := start.Add(time.Duration(ts) * time.Millisecond)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-stop:
				timer.Stop()
				return
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		lag := time.Since(due)
		res.maxLag = max(res.maxLag, lag)
		if lag > lateAfter {
			res.late++
		}
		if err := p.sendTag(conn, t, ts); err != nil {
			conn = p.lost(conn, err)
			continue
		}
		if t.frame && readyCh != nil {
			readyCh <- nil
			readyCh = nil
		}
	}
}

// cursor walks the media tags that are sent on every pass (not the setup
// tags), looping with continuous timestamps.
type cursor struct {
	m    *media
	pass uint32
	i    int
}

// seek moves to the next tag to send, starting a new pass after the last.
func (c *cursor) seek() {
	for {
		if c.i == len(c.m.tags) {
			c.i, c.pass = 0, c.pass+1
		}
		if !c.m.tags[c.i].setup {
			return
		}
		c.i++
	}
}

// ts returns the timestamp of the next tag.
func (c *cursor) ts() uint32 {
	c.seek()
	return c.pass*c.m.loop + c.m.tags[c.i].ts
}

// next returns the next tag with its timestamp and moves past it.
func (c *cursor) next() (*mediaTag, uint32) {
	ts := c.ts()
	t := &c.m.tags[c.i]
	c.i++
	return t, ts
}

// skipUntil moves past the tags with timestamps before ts.
func (c *cursor) skipUntil(ts uint32) {
	for c.ts() < ts {
		c.i++
	}
}

// connect dials, connects and publishes.
func (p *publisher) connect(ctx context.Context, url string) (*rtmp.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.r.cfg.playerTimeout)
	defer cancel()
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Publish(ctx, ""); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// lost records a failed connection and closes it.
func (p *publisher) lost(c *rtmp.ClientConn, err error) *rtmp.ClientConn {
	p.st.pub.err = err
	p.st.pub.disconnects++
	p.markLost()
	c.Close()
	return nil
}

// markLost notes when the stream stopped being published (once per
// outage) and, with -failover, moves the publisher to the next edge.
func (p *publisher) markLost() {
	st, cfg := p.st, p.r.cfg
	if st.pub.lostAt < 0 {
		st.pub.lostAt = time.Duration(p.r.now())
	}
	if cfg.failover {
		st.edgeIdx = (st.edgeIdx + 1) % len(cfg.edges)
		st.edge = cfg.edges[st.edgeIdx]
	}
}

// sendSetup sends the file's metadata and sequence headers with timestamp
// ts.
func (p *publisher) sendSetup(c *rtmp.ClientConn, ts uint32) error {
	for k := range p.r.media.tags {
		if t := &p.r.media.tags[k]; t.setup {
			if err := p.sendTag(c, t, ts); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendTag sends one tag; a video frame is recorded in the stream's log
// first, so a player can never receive a frame the log does not know.
func (p *publisher) sendTag(c *rtmp.ClientConn, t *mediaTag, ts uint32) error {
	res := &p.st.pub
	var err error
	switch t.typ {
	case flv.TagVideo:
		if t.frame {
			p.st.log.add(sentFrame{ts: ts, at: p.r.now(), fp: fingerprint(t.body)})
		}
		err = c.WriteVideo(ts, t.body)
	case flv.TagAudio:
		err = c.WriteAudio(ts, t.body)
	case flv.TagScript:
		err = c.WriteData(ts, t.body)
	}
	if err != nil {
		return err
	}
	res.bytesSent += int64(len(t.body))
	return nil
}

// sleepOrDone waits for d and reports whether neither stop nor ctx ended
// meanwhile.
func sleepOrDone(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}
