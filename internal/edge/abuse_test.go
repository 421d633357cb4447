package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// abuseClass is one kind of abusive peer: n connections that each do
// abuse, which the server must close at most bound after its timer
// started, and (for the peers that only go silent or trickle) not before
// min.
type abuseClass struct {
	name string
	n    int
	// handshake makes the peer complete a real handshake before abuse;
	// the server's timer then starts at its end. Otherwise it starts at
	// the dial.
	handshake bool
	// abuse writes to nc until it is done or closed is closed; it returns
	// the instant before the write that restarts the server's timer if
	// there is one after the dial or the handshake (a connect command
	// clears the connect deadline, each read restarts the idle one), or
	// the zero time.
	abuse      func(nc net.Conn, i int, closed <-chan struct{}) time.Time
	bound, min time.Duration
}

// abuseResult is how the server ended one abusive connection.
type abuseResult struct {
	after   time.Duration // from the start of the server's timer to the close
	atLeast time.Duration // the same from the earliest it may have started
	err     error         // the connection was not closed as it must be
}

// runAbuse dials the n connections of c to addr at once, has them abuse
// the server and returns how each was closed.
func runAbuse(addr string, c abuseClass) []abuseResult {
	res := make([]abuseResult, c.n)
	var wg sync.WaitGroup
	for i := range c.n {
		wg.Go(func() { res[i] = abuseOne(addr, c, i) })
	}
	wg.Wait()
	return res
}

func abuseOne(addr string, c abuseClass, i int) abuseResult {
	// The server's timer starts between lo and hi, the instants before
	// and after the act that starts it (the dial, the handshake, a
	// write): a close must come at least its timeout after lo, and at
	// most the bound after hi. In a burst of connections a dial may wait
	// long for the accept, where the server's timer starts.
	lo := time.Now()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return abuseResult{err: err}
	}
	defer nc.Close()
	hi := time.Now()
	if c.handshake {
		lo = time.Now()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil {
			return abuseResult{err: fmt.Errorf("handshake: %w", err)}
		}
		nc.SetDeadline(time.Time{})
		hi = time.Now()
	}
	// The server's close is seen by a reader that drains whatever it
	// sends (S0+S1+S2, the answer to a connect, pings).
	closed := make(chan struct{})
	var closedAt time.Time
	var readErr error
	go func() {
		defer close(closed)
		buf := make([]byte, 16<<10)
		for {
			if _, err := nc.Read(buf); err != nil {
				closedAt, readErr = time.Now(), err
				return
			}
		}
	}()
	nc.SetDeadline(time.Now().Add(c.bound + 30*time.Second)) // no write may block the test for good
	if at := c.abuse(nc, i, closed); !at.IsZero() {
		lo, hi = at, at
	}
	nc.SetReadDeadline(hi.Add(c.bound + 5*time.Second))
	<-closed
	var ne net.Error
	if errors.As(readErr, &ne) && ne.Timeout() {
		return abuseResult{after: time.Since(hi), err: fmt.Errorf("still open %v after its timer started", time.Since(hi).Round(time.Millisecond))}
	}
	return abuseResult{after: closedAt.Sub(hi), atLeast: closedAt.Sub(lo)}
}

// writeAll writes p to nc unless the server has closed it; it reports
// whether all of p was written.
func writeAll(nc net.Conn, p []byte, closed <-chan struct{}) bool {
	select {
	case <-closed:
		return false
	default:
	}
	_, err := nc.Write(p)
	return err == nil
}

// drip writes p one byte per interval until it is all written or the
// server closes nc.
func drip(nc net.Conn, p []byte, interval time.Duration, closed <-chan struct{}) {
	for _, b := range p {
		if _, err := nc.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-closed:
			return
		case <-time.After(interval):
		}
	}
}

// basicHeader appends the basic header of a chunk of format fmtBits on
// chunk stream csid, in the shortest of its three forms.
func basicHeader(b []byte, fmtBits byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(b, fmtBits<<6|byte(csid))
	case csid < 320:
		return append(b, fmtBits<<6, byte(csid-64))
	default:
		return append(b, fmtBits<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

// chunkMessage frames payload as a message of type typ on chunk stream
// csid and message stream sid, declaring length (which may be more than
// payload holds), in chunks of 128 bytes, the size before any Set Chunk
// Size.
func chunkMessage(b []byte, csid uint32, typ byte, sid uint32, length int, payload []byte) []byte {
	b = basicHeader(b, 0, csid)
	b = append(b, 0, 0, 0, byte(length>>16), byte(length>>8), byte(length), typ)
	b = binary.LittleEndian.AppendUint32(b, sid)
	for off := 0; off < len(payload); off += 128 {
		if off > 0 {
			b = basicHeader(b, 3, csid)
		}
		b = append(b, payload[off:min(off+128, len(payload))]...)
	}
	return b
}

// connectCommand returns the chunks of a connect command to app whose
// command object ends with the property "a" holding nested, an AMF0 value
// (nil: none).
func connectCommand(addr, app string, nested []byte) []byte {
	var p []byte
	p, _ = amf.AppendAMF0(p, "connect")
	p, _ = amf.AppendAMF0(p, float64(1))
	obj, _ := amf.AppendAMF0(nil, amf.Object{
		{Key: "app", Value: app},
		{Key: "tcUrl", Value: "rtmp://" + addr + "/" + app},
	})
	obj = obj[:len(obj)-3] // reopen the object: drop its end marker
	if nested != nil {
		obj = append(obj, 0, 1, 'a')
		obj = append(obj, nested...)
	}
	p = append(p, obj...)
	p = append(p, 0, 0, 9)
	return chunkMessage(nil, 3, 20, 0, len(p), p)
}

// Nested AMF0 values, depth containers deep: objects, strict arrays and
// ECMA arrays, each holding the next under the key "a" (or as its only
// element).
func nestedObjects(depth int) []byte {
	var b []byte
	for range depth {
		b = append(b, 0x03, 0, 1, 'a')
	}
	b = append(b, 0x05) // null
	for range depth {
		b = append(b, 0, 0, 9)
	}
	return b
}

func nestedStrictArrays(depth int) []byte {
	var b []byte
	for range depth {
		b = append(b, 0x0a, 0, 0, 0, 1)
	}
	return append(b, 0x05)
}

func nestedECMAArrays(depth int) []byte {
	var b []byte
	for range depth {
		b = append(b, 0x08, 0, 0, 0, 1, 0, 1, 'a')
	}
	b = append(b, 0x05)
	for range depth {
		b = append(b, 0, 0, 9)
	}
	return b
}

// declare16MiB returns the first chunks of a video message declaring
// 16 MiB - 1 (the most the wire format can say) of which only sent bytes
// follow.
func declare16MiB(sent int) []byte {
	return chunkMessage(nil, 4, 9, 1, 1<<24-1, make([]byte, sent))
}

// memSample is the memory of this process (the edge, its NATS server and
// every client of the test) at one instant.
type memSample struct {
	heapInuse uint64 // runtime.MemStats.HeapInuse
	rss       uint64 // VmRSS of /proc/self/status
}

func sampleMem() memSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, rss: vmRSS()}
}

// vmRSS returns the resident set size of this process in bytes, or 0 if
// /proc/self/status does not tell.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// raceBuild reports whether the test binary was built with the race
// detector.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, st := range bi.Settings {
		if st.Key == "-race" {
			return st.Value == "true"
		}
	}
	return false
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// contiguous returns what is wrong with idx, the markers of the frames a
// player received in order, if they are not every integer from their
// first to last, once each.
func contiguous(idx []int) error {
	for i := 1; i < len(idx); i++ {
		if idx[i] != idx[i-1]+1 {
			return fmt.Errorf("frame %d after frame %d (%d frames received)", idx[i], idx[i-1], len(idx))
		}
	}
	return nil
}

// TestAbuseWhileStreaming attacks an edge with the abuse mix of a public
// ingest endpoint while a live stream plays on it: random bytes,
// truncated handshakes, 16 MiB declared messages, ten thousand chunk
// streams, deeply nested AMF in connect, slow-loris handshakes and
// connects, and silent connected sessions. The stream's two players lose
// no frame, every abusive connection is closed by the server within its
// timeout (plus a margin for a loaded machine), the process's memory
// stays under a bound and its goroutines return to their number before
// the abuse.
//
// Memory bound: the process holds the edge, its NATS server and every
// client of the test. The 347 abusive connections cost the server a
// goroutine, its buffers and a chunk reader each, and the 40 peers
// declaring 16 MiB messages 256 KiB of received body each, about 10 MiB;
// the test's own peers hold a 16 KiB read buffer each. HeapInuse grew by
// 24 to 39 MiB in our runs; it may grow by 64 MiB at most, while a server
// that reserved each declared 16 MiB message up front would need
// 40 x 16 MiB = 640 MiB. RSS, which also holds the goroutine stacks and
// the pages the runtime has not returned yet, may grow by 64 MiB too
// (34 MiB measured), or by 320 MiB under the race detector, whose shadow
// memory costs several bytes for each byte of heap and stack (190 to
// 225 MiB measured when the process starts small; the growth is less in a
// process that has already run it): still half of what the reservations
// alone would take.
func TestAbuseWhileStreaming(t *testing.T) {
	const (
		hsTimeout      = 2 * time.Second
		connectTimeout = 2 * time.Second
		idleTimeout    = 2 * time.Second
		// margin is the slack over a timeout before a close counts as
		// late: the server's deadline is exact, but on a loaded machine
		// the closing goroutine, and our reader, may wait to run.
		margin     = 2500 * time.Millisecond
		heapGrowth = 64 << 20
		// heapRetained is what the heap may keep once the abusive
		// connections are gone: pooled buffers, the players' records.
		heapRetained = 16 << 20
		nestedDepth  = 10000
		app, name    = "live", "abused"
	)
	ns := natstest.Start(t, natstest.Options{})
	te := startEdge(t, ns, "a", func(c *Config) {
		c.HandshakeTimeout = hsTimeout
		c.ConnectTimeout = connectTimeout
		c.IdleTimeout = idleTimeout
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// The stream: our client paced like an encoder (25 fps, a keyframe
	// every second, AAC-sized audio), and two players.
	pub := dialClient(t, ctx, appURL(te, app))
	if err := pub.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, pub, 1)
	players := []*clusterPlayer{
		startClusterPlayer(t, ctx, te, app, name, nil),
		startClusterPlayer(t, ctx, te, app, name, nil),
	}
	for i, p := range players {
		awaitCond(t, 10*time.Second, fmt.Sprintf("player %d receiving", i), func() bool {
			_, ok := p.lastVideo(1)
			return ok
		})
	}

	runtime.GC()
	base := sampleMem()
	if base.rss == 0 {
		t.Fatal("no VmRSS in /proc/self/status")
	}
	baseGoroutines := runtime.NumGoroutine()
	var (
		peakMu sync.Mutex
		peak   = base
	)
	stopSampling := make(chan struct{})
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			s := sampleMem()
			peakMu.Lock()
			peak.heapInuse = max(peak.heapInuse, s.heapInuse)
			peak.rss = max(peak.rss, s.rss)
			peakMu.Unlock()
		}
	}()

	addr := te.Addr
	c1 := make([]byte, 1536)
	connected := func(nc net.Conn, closed <-chan struct{}) (time.Time, bool) {
		at := time.Now()
		return at, writeAll(nc, connectCommand(addr, app, nil), closed)
	}
	classes := []abuseClass{{
		name: "random bytes", n: 200,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			p := make([]byte, 8<<10)
			for j := range p {
				p[j] = byte(rand.Uint32())
			}
			if i%2 == 0 {
				p[0] = 3 // a valid C0: the random rest is taken for C1, C2 and chunks
			}
			writeAll(nc, p, closed)
			return time.Time{}
		},
		// The handshake, if any, completes at once: the connect timeout
		// starts then.
		bound: max(hsTimeout, connectTimeout) + margin,
	}, {
		name: "truncated handshake, silent", n: 20,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, append([]byte{3}, c1[:700]...), closed)
			return time.Time{}
		},
		bound: hsTimeout + margin, min: hsTimeout,
	}, {
		name: "truncated C2, silent", n: 10,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, append(append([]byte{3}, c1...), c1[:500]...), closed)
			return time.Time{}
		},
		bound: hsTimeout + margin, min: hsTimeout,
	}, {
		name: "truncated handshake, half-closed", n: 20,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, append([]byte{3}, c1[:700]...), closed)
			at := time.Now()
			nc.(*net.TCPConn).CloseWrite()
			return at
		},
		// The server closes at the end of the stream, before its
		// timeout; on a loaded machine the two cannot be told apart
		// reliably, so only the timeout is asserted.
		bound: hsTimeout + margin,
	}, {
		name: "16 MiB message before connect", n: 20, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, declare16MiB(256<<10), closed)
			return time.Time{}
		},
		bound: connectTimeout + margin,
	}, {
		name: "16 MiB message after connect", n: 20, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			if _, ok := connected(nc, closed); !ok {
				return time.Time{}
			}
			at := time.Now()
			writeAll(nc, declare16MiB(256<<10), closed)
			return at
		},
		bound: idleTimeout + margin,
	}, {
		name: "10000 chunk streams", n: 2, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			var at time.Time
			if i == 1 {
				var ok bool
				if at, ok = connected(nc, closed); !ok {
					return at
				}
			}
			var b []byte
			for csid := uint32(3); csid < 3+10000; csid++ {
				b = chunkMessage(b, csid, 9, 1, 1000, make([]byte, 100))
				if len(b) >= 16<<10 {
					if !writeAll(nc, b, closed) {
						return at
					}
					b = b[:0]
				}
			}
			writeAll(nc, b, closed)
			return at
		},
		bound: max(connectTimeout, idleTimeout) + margin,
	}, {
		name: "nested AMF objects in connect", n: 5, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, connectCommand(addr, app, nestedObjects(nestedDepth)), closed)
			return time.Time{}
		},
		bound: connectTimeout + margin,
	}, {
		name: "nested AMF strict arrays in connect", n: 5, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, connectCommand(addr, app, nestedStrictArrays(nestedDepth)), closed)
			return time.Time{}
		},
		bound: connectTimeout + margin,
	}, {
		name: "nested AMF ECMA arrays in connect", n: 5, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			writeAll(nc, connectCommand(addr, app, nestedECMAArrays(nestedDepth)), closed)
			return time.Time{}
		},
		bound: connectTimeout + margin,
	}, {
		name: "slow-loris handshake", n: 20,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			drip(nc, append([]byte{3}, c1...), time.Second, closed)
			return time.Time{}
		},
		bound: hsTimeout + margin, min: hsTimeout,
	}, {
		name: "slow-loris connect", n: 10, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			drip(nc, connectCommand(addr, app, nil), time.Second, closed)
			return time.Time{}
		},
		bound: connectTimeout + margin, min: connectTimeout,
	}, {
		name: "silent after connect", n: 10, handshake: true,
		abuse: func(nc net.Conn, i int, closed <-chan struct{}) time.Time {
			at, _ := connected(nc, closed)
			return at
		},
		bound: idleTimeout + margin, min: idleTimeout,
	}}

	framesBefore := enc.Video()
	abuseStart := time.Now()
	results := make([][]abuseResult, len(classes))
	var wg sync.WaitGroup
	for k, c := range classes {
		wg.Go(func() { results[k] = runAbuse(addr, c) })
	}
	wg.Wait()
	abuseTime := time.Since(abuseStart)
	framesDuring := enc.Video() - framesBefore
	close(stopSampling)
	<-sampling

	total := 0
	for k, c := range classes {
		var ds []time.Duration
		failed := 0
		for i, r := range results[k] {
			switch {
			case r.err != nil:
				t.Errorf("%s %d: %v", c.name, i, r.err)
				failed++
				continue
			case r.after > c.bound:
				t.Errorf("%s %d: closed %v after its timer started, over %v", c.name, i, r.after.Round(time.Millisecond), c.bound)
			case r.atLeast < c.min:
				t.Errorf("%s %d: closed %v after its timer started, before its timeout of %v", c.name, i, r.atLeast.Round(time.Millisecond), c.min)
			}
			ds = append(ds, r.after)
		}
		total += c.n
		slices.Sort(ds)
		if len(ds) == 0 {
			t.Logf("%-36s %3d conns: none closed", c.name, c.n)
			continue
		}
		t.Logf("%-36s %3d conns: closed after min %v, median %v, max %v (bound %v); %d not closed",
			c.name, c.n, ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond),
			ds[len(ds)-1].Round(time.Millisecond), c.bound, failed)
	}
	t.Logf("race detector: %v", raceBuild())
	t.Logf("%d abusive connections over %v, while the encoder sent %d video frames", total, abuseTime.Round(time.Millisecond), framesDuring)

	// Memory: the peak during the abuse, and what remains after it.
	runtime.GC()
	after := sampleMem()
	t.Logf("HeapInuse: before %s, peak %s (+%s), after %s; VmRSS: before %s, peak %s (+%s), after %s",
		mib(base.heapInuse), mib(peak.heapInuse), mib(peak.heapInuse-min(peak.heapInuse, base.heapInuse)), mib(after.heapInuse),
		mib(base.rss), mib(peak.rss), mib(peak.rss-min(peak.rss, base.rss)), mib(after.rss))
	if peak.heapInuse > base.heapInuse+heapGrowth {
		t.Errorf("HeapInuse grew by %s during the abuse, over %s", mib(peak.heapInuse-base.heapInuse), mib(heapGrowth))
	}
	if after.heapInuse > base.heapInuse+heapRetained {
		t.Errorf("HeapInuse after the abuse and a GC is %s, %s over before it: memory held by closed connections", mib(after.heapInuse), mib(after.heapInuse-base.heapInuse))
	}
	rssGrowth := uint64(64 << 20)
	if raceBuild() {
		rssGrowth = 320 << 20
	}
	if peak.rss > base.rss+rssGrowth {
		t.Errorf("VmRSS grew by %s during the abuse, over %s", mib(peak.rss-base.rss), mib(rssGrowth))
	}

	// Every goroutine of the abusive connections has ended.
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > baseGoroutines && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > baseGoroutines {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines 5 s after the abuse, %d before it:\n%s", n, baseGoroutines, bytes.TrimSpace(buf))
	}
	t.Logf("goroutines: %d before the abuse, %d after", baseGoroutines, n)

	// The players got every frame sent: the encoder stops, and each
	// player must have every video and audio frame from the first it got
	// (before the abuse) to the last written.
	time.Sleep(500 * time.Millisecond)
	enc.Stop()
	if err := enc.Err(); err != nil {
		t.Fatalf("encoder: %v", err)
	}
	last := enc.Video() - 1
	for i, p := range players {
		awaitCond(t, 10*time.Second, fmt.Sprintf("player %d receiving the last frame", i), func() bool {
			f, ok := p.lastVideo(1)
			return ok && f.idx-srcStride == last
		})
		if err := p.Err(); err != nil {
			t.Errorf("player %d: connection ended: %v", i, err)
		}
		var video, audio []int
		for _, f := range p.Frames() {
			if f.idx < 0 {
				continue
			}
			switch f.kind {
			case rtmp.KindVideo:
				video = append(video, f.idx-srcStride)
			case rtmp.KindAudio:
				audio = append(audio, f.idx-srcStride)
			}
		}
		if err := contiguous(video); err != nil {
			t.Errorf("player %d video: %v", i, err)
		}
		if err := contiguous(audio); err != nil {
			t.Errorf("player %d audio: %v", i, err)
		}
		if len(video) == 0 || video[0] > framesBefore {
			t.Errorf("player %d: first video frame %v, want one sent before the abuse (%d)", i, video[:min(1, len(video))], framesBefore)
			continue
		}
		t.Logf("player %d: video frames %d..%d (%d), audio frames %d, none lost", i, video[0], video[len(video)-1], len(video), len(audio))
	}

	if s := te.Stats(); s.Sessions != 3 {
		t.Errorf("%d sessions open after the abuse, want the publisher and the two players", s.Sessions)
	}
}
