package bus_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// checkContiguous checks that frames hold the source tags with sequence
// numbers first..first+len-1, in order, with no loss reported.
func checkContiguous(t *testing.T, frames []bus.Frame, tags []fileTag, first uint64) {
	t.Helper()
	for i, f := range frames {
		want := first + uint64(i)
		if f.Seq != want || f.Lost != 0 || f.Event != "" {
			t.Fatalf("frame %d: %v, want seq %d (frames %v)", i, summary(frames[i:i+1]), want, summary(frames[max(0, i-3):min(len(frames), i+3)]))
		}
		if !bytes.Equal(f.Tag, tags[f.Seq-1].bytes) {
			t.Fatalf("frame seq %d differs from tag %d of the file", f.Seq, f.Seq-1)
		}
	}
}

// TestPublishSubscribeFFmpegFLV sends every tag of an ffmpeg-made FLV file
// over the bus and checks that the subscriber gets them all, in order, byte
// for byte, and that header + payloads form a file ffprobe plays.
func TestPublishSubscribeFFmpegFLV(t *testing.T) {
	path := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	tags := readFLV(t, path)
	_, nc := startNATS(t)
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "ffmpeg", Epoch: 100})
	c := newCollector()
	s := newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "ffmpeg"}, c)
	start := time.Now()
	for i, tag := range tags {
		var seq uint64
		var err error
		if i%2 == 0 {
			seq, err = p.Publish(tag.bytes)
		} else {
			seq, err = p.PublishFrame(tag.typ, tag.ts, tag.body, time.Now())
		}
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("tag %d: seq %d, %v", i, seq, err)
		}
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	fs := c.waitFor(t, "end of stream", hasEnd)
	if len(fs) != len(tags)+1 {
		t.Fatalf("%d frames, want %d and the end", len(fs), len(tags))
	}
	checkContiguous(t, fs[:len(tags)], tags, 1)
	for _, f := range fs[:len(tags)] {
		if f.Epoch != 100 || f.Init || f.IngestTime < start.UnixNano() {
			t.Fatalf("frame %d: epoch %d init %v ingest %d", f.Seq, f.Epoch, f.Init, f.IngestTime)
		}
	}
	if end := fs[len(tags)]; end.Seq != uint64(len(tags)+1) || len(end.Tag) != 0 {
		t.Fatalf("end: %+v", end)
	}
	if st := s.Stats(); st.Frames != uint64(len(tags)) || st.Gaps != 0 || st.Ends != 1 || st.Malformed != 0 || st.InitRequests != 1 {
		t.Fatalf("subscriber stats %+v", st)
	}
	if st := p.Stats(); st.Frames != uint64(len(tags)) || st.Errors != 0 || st.InitRequests != 1 {
		t.Fatalf("publisher stats %+v", st)
	}

	// The contract: FLV header + payloads in order is a playable file.
	file := flv.AppendHeader(nil, flv.Header{Audio: true, Video: true})
	for _, f := range fs {
		file = append(file, f.Tag...)
	}
	out := filepath.Join(t.TempDir(), "bus.flv")
	if err := os.WriteFile(out, file, 0o644); err != nil {
		t.Fatal(err)
	}
	got, want := testutil.Probe(t, out), testutil.Probe(t, path)
	if got.VideoFrames != want.VideoFrames || got.AudioFrames != want.AudioFrames || got.VideoFrames == 0 || !got.FirstVideoPacketIsKey || got.Errors != "" {
		t.Fatalf("recorded %+v\nsource %+v", got, want)
	}
}

// TestLargeKeyframeDefaultServer sends a 3 MB keyframe through a server
// with the default 1 MiB max payload, live and in a fast start.
func TestLargeKeyframeDefaultServer(t *testing.T) {
	_, nc := startNATS(t)
	if mp := nc.MaxPayload(); mp != 1<<20 {
		t.Fatalf("server max payload %d, want the 1 MiB default", mp)
	}
	// Every message on the media subject, as a plain NATS consumer sees it.
	var rawMu sync.Mutex
	var raw []*nats.Msg
	media := bus.StreamSubject("", "live", "4k", bus.KindMedia)
	if _, err := nc.Subscribe(media, func(m *nats.Msg) {
		rawMu.Lock()
		raw = append(raw, m)
		rawMu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "4k", Epoch: 1})
	c := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "4k"}, c)

	seqTag := mustTag(t, flv.TagVideo, 0, avcSeqBody)
	key := mustTag(t, flv.TagVideo, 0, keyBody(3_000_000, 1))
	inter := mustTag(t, flv.TagVideo, 40, interBody(200_000, 2))
	for _, tag := range [][]byte{seqTag, key, inter} {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	fs := c.waitFor(t, "three frames", func(fs []bus.Frame) bool { return len(fs) >= 3 })
	if !bytes.Equal(fs[1].Tag, key) || !bytes.Equal(fs[2].Tag, inter) || fs[1].Seq != 2 {
		t.Fatalf("frames %v: keyframe not reassembled", summary(fs))
	}
	if st := p.Stats(); st.Fragments != 3 {
		t.Fatalf("publisher stats %+v, want the keyframe in 3 fragments", st)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	rawMu.Lock()
	var joined []byte
	for _, m := range raw {
		if len(m.Data) > 1<<20 {
			t.Errorf("message of %d bytes", len(m.Data))
		}
		if m.Header.Get(bus.HeaderSeq) == "2" {
			if m.Header.Get(bus.HeaderFrag) == "" {
				t.Error("keyframe message without a fragment header")
			}
			joined = append(joined, m.Data...)
		}
	}
	rawMu.Unlock()
	if !bytes.Equal(joined, key) {
		t.Fatal("concatenated fragments differ from the tag")
	}

	// A player joining now starts from the cached 3 MB keyframe.
	late := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "4k"}, late)
	lf := late.snapshot()
	if len(lf) != 3 || !lf[1].Init || !bytes.Equal(lf[1].Tag, key) || !bytes.Equal(lf[2].Tag, inter) {
		t.Fatalf("late player got %v", summary(lf))
	}
}

// publishPaced publishes tags one per tick from a goroutine, reporting on
// reached[i] (if not nil) when tag i has been published.
func publishPaced(t *testing.T, p *bus.Publisher, tags []fileTag, every time.Duration, reached map[int]chan struct{}) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i, tag := range tags {
			<-tick.C
			if _, err := p.Publish(tag.bytes); err != nil {
				done <- err
				return
			}
			if ch := reached[i]; ch != nil {
				close(ch)
			}
		}
		done <- p.End()
	}()
	return done
}

// TestFastStart joins players at several points of a live publish and
// checks that each gets metadata, sequence headers and the GOP from its
// keyframe, then the live frames, with no gap and no duplicate.
func TestFastStart(t *testing.T) {
	path := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	tags := readFLV(t, path)
	srv, nc := startNATS(t)
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "fast", Epoch: 3})

	joins := []int{len(tags) / 4, len(tags) / 2, len(tags) * 3 / 4}
	reached := make(map[int]chan struct{})
	for _, j := range joins {
		reached[j] = make(chan struct{})
	}
	done := publishPaced(t, p, tags, 2*time.Millisecond, reached)
	var subs []*collector
	var started []*bus.Subscriber
	for _, j := range joins {
		select {
		case <-reached[j]:
		case <-time.After(waitTimeout):
			t.Fatal("publisher stalled")
		}
		c := newCollector()
		// Each player on its own connection, as on another edge.
		s := newSubscriber(t, srv.Connect(t), bus.SubscriberConfig{App: "live", Name: "fast"}, c)
		subs = append(subs, c)
		started = append(started, s)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for k, c := range subs {
		fs := c.waitFor(t, "end of stream", hasEnd)
		fs = fs[:len(fs)-1]
		// Metadata, video and audio sequence headers come first.
		if len(fs) < 4 {
			t.Fatalf("player %d: %v", k, summary(fs))
		}
		for i, want := range []string{"meta", "video seq", "audio seq"} {
			tag := tags[fs[i].Seq-1]
			ok := fs[i].Init && bytes.Equal(fs[i].Tag, tag.bytes)
			switch want {
			case "meta":
				ok = ok && tag.typ == flv.TagScript
			case "video seq":
				ok = ok && tag.typ == flv.TagVideo && flv.IsSequenceHeader(tag.typ, tag.body)
			case "audio seq":
				ok = ok && tag.typ == flv.TagAudio && flv.IsSequenceHeader(tag.typ, tag.body)
			}
			if !ok {
				t.Fatalf("player %d frame %d is not the %s: %v", k, i, want, summary(fs[:4]))
			}
		}
		gop := fs[3:]
		if first := tags[gop[0].Seq-1]; first.typ != flv.TagVideo || !flv.IsKeyframe(first.typ, first.body) || !gop[0].Init {
			t.Fatalf("player %d: GOP starts with %v, not a keyframe", k, summary(gop[:1]))
		}
		// From the keyframe on: every frame of the source, once, in order.
		checkContiguous(t, gop, tags, gop[0].Seq)
		if last := gop[len(gop)-1].Seq; last != uint64(len(tags)) {
			t.Fatalf("player %d: last frame %d of %d", k, last, len(tags))
		}
		nInit := 0
		for _, f := range gop {
			if f.Init {
				nInit++
			}
		}
		st := started[k].Stats()
		if st.Gaps != 0 || st.InitFrames != uint64(3+nInit) || nInit == 0 || st.InitFailures != 0 {
			t.Fatalf("player %d: %d init frames in the GOP, stats %+v", k, nInit, st)
		}
		t.Logf("player %d joined after tag %d: %d init frames, then %d live", k, joins[k], 3+nInit, len(gop)-nInit)
	}
}

// TestEpochFencing injects frames of an older epoch and checks they never
// reach the player, and that a newer publish takes over.
func TestEpochFencing(t *testing.T) {
	srv, nc := startNATS(t)
	c := newCollector()
	s := newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "fenced", NoInit: true}, c)

	edge := func(epoch uint64) (*bus.Publisher, *nats.Conn) {
		conn := srv.Connect(t)
		p, err := bus.NewPublisher(conn, bus.PublisherConfig{App: "live", Name: "fenced", Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		return p, conn
	}
	owner, ownerNC := edge(5)
	stale, staleNC := edge(4)
	newer, newerNC := edge(6)
	burst := func(p *bus.Publisher, conn *nats.Conn, n int) {
		t.Helper()
		for range n {
			if _, err := p.Publish(mustTag(t, flv.TagAudio, 0, aacRawBody)); err != nil {
				t.Fatal(err)
			}
		}
		// Once the server has processed the burst, later bursts from
		// other connections reach the player after it.
		if err := conn.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	burst(owner, ownerNC, 3) // e5 s1..s3
	burst(stale, staleNC, 3) // e4: dropped
	// A hand-made old-epoch message, as a stale edge would send it.
	m := &nats.Msg{Subject: bus.StreamSubject("", "live", "fenced", bus.KindMedia), Header: nats.Header{}, Data: mustTag(t, flv.TagAudio, 0, aacRawBody)}
	(&bus.Envelope{Epoch: 2, Seq: 99}).WriteHeader(m.Header)
	if err := staleNC.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := staleNC.Flush(); err != nil {
		t.Fatal(err)
	}
	burst(owner, ownerNC, 1) // e5 s4
	burst(newer, newerNC, 2) // e6 s1..s2: takes over
	burst(owner, ownerNC, 1) // e5 s5: now stale
	burst(newer, newerNC, 1) // e6 s3
	if err := newer.End(); err != nil {
		t.Fatal(err)
	}
	fs := c.waitFor(t, "end of stream", hasEnd)
	want := []string{"e5/s1", "e5/s2", "e5/s3", "e5/s4", "e6/s1", "e6/s2", "e6/s3", "e6/s4/end"}
	if g := summary(fs); !equalStrings(g, want) {
		t.Fatalf("delivered %v, want %v", g, want)
	}
	if st := s.Stats(); st.Stale != 5 || st.Epochs != 1 || st.Gaps != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestServerRestart restarts the NATS server under a live publish: the same
// Publisher and Subscriber carry on within 2 s, and fast start works again.
func TestServerRestart(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	pubNC := srv.Connect(t, bus.ReconnectOptions()...)
	subNC := srv.Connect(t, bus.ReconnectOptions()...)
	p := newPublisher(t, pubNC, bus.PublisherConfig{App: "live", Name: "restart", Epoch: 1})
	c := newCollector()
	s := newSubscriber(t, subNC, bus.SubscriberConfig{App: "live", Name: "restart"}, c)

	var lastSeq atomic.Uint64
	var pubErrs atomic.Int64
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			body := interBody(500, byte(i))
			if i%25 == 0 {
				body = keyBody(500, byte(i))
			}
			seq, err := p.PublishFrame(flv.TagVideo, uint32(i*5), body, time.Time{})
			if err != nil {
				pubErrs.Add(1)
			}
			lastSeq.Store(seq)
		}
	}()
	c.waitFor(t, "frames before the restart", func(fs []bus.Frame) bool { return len(fs) >= 20 })

	srv.Restart()
	restarted := time.Now()
	after := lastSeq.Load()
	fs := c.waitFor(t, "a frame published after the restart", func(fs []bus.Frame) bool {
		return len(fs) > 0 && fs[len(fs)-1].Seq > after
	})
	resumed := time.Since(restarted)
	t.Logf("resumed %v after the server accepted connections again; %d frames so far", resumed, len(fs))
	if resumed > 2*time.Second {
		t.Errorf("resumed after %v, want within 2 s", resumed)
	}

	// Fast start is served again on the re-established init subscription.
	late := newCollector()
	ls := newSubscriber(t, subNC, bus.SubscriberConfig{App: "live", Name: "restart"}, late)
	if st := ls.Stats(); st.InitFrames == 0 || st.InitFailures != 0 {
		t.Errorf("fast start after the restart: %+v", st)
	}

	close(stop)
	<-stopped
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	fs = c.waitFor(t, "end of stream", hasEnd)
	for i := 1; i < len(fs); i++ {
		if fs[i].Seq != fs[i-1].Seq+1+fs[i].Lost {
			t.Fatalf("frame %d: %v after %v", i, summary(fs[i:i+1]), summary(fs[i-1:i]))
		}
	}
	st := s.Stats()
	t.Logf("subscriber stats %+v, publish errors %d", st, pubErrs.Load())
	if pubErrs.Load() != 0 {
		t.Errorf("%d publish errors; the reconnect buffer should hold the frames", pubErrs.Load())
	}
}

// TestStartWithoutPublisher goes live at once when nobody answers the init
// request, and delivers the publish that starts later.
func TestStartWithoutPublisher(t *testing.T) {
	_, nc := startNATS(t)
	c := newCollector()
	began := time.Now()
	s := newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "later", InitTimeout: 5 * time.Second}, c)
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Start took %v without a publisher", took)
	}
	if st := s.Stats(); st.InitRequests != 1 || st.InitFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "later", Epoch: 1})
	if _, err := p.Publish(mustTag(t, flv.TagVideo, 0, avcSeqBody)); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "a frame", func(fs []bus.Frame) bool { return len(fs) == 1 && fs[0].Seq == 1 && !fs[0].Init })
}

// TestInitTimeout goes live after InitTimeout when the init request is
// swallowed.
func TestInitTimeout(t *testing.T) {
	_, nc := startNATS(t)
	if _, err := nc.Subscribe(bus.StreamSubject("", "live", "mute", bus.KindInit), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	began := time.Now()
	s := newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "mute", InitTimeout: 200 * time.Millisecond}, c)
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("Start returned after %v, before the timeout", took)
	}
	if st := s.Stats(); st.InitFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "mute", Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(mustTag(t, flv.TagAudio, 0, aacRawBody)); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "a frame", func(fs []bus.Frame) bool { return len(fs) == 1 })
}

// TestFreshPublishEndsInitWait checks that a fast start whose init
// request nobody answers (a monitor subscribed to the init subject swallows
// the "no responders" status) ends as soon as a publish starts: its first
// frame (sequence 1) is held, so the live frames are complete from the
// beginning and there is nothing to wait for.
func TestFreshPublishEndsInitWait(t *testing.T) {
	_, nc := startNATS(t)
	if _, err := nc.Subscribe(bus.AppWildcard("", "live", bus.KindInit), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	s, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "fresh", InitTimeout: 10 * time.Second, Handler: c.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	started := make(chan error, 1)
	began := time.Now()
	go func() { started <- s.Start(context.Background()) }()
	// Publish once the fast start has begun: the subscription was sent on
	// nc before, so the server registers it before it sees the frames.
	for deadline := time.Now().Add(5 * time.Second); s.Stats().InitRequests == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("fast start did not begin")
		}
	}
	p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "fresh", Epoch: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range [][]byte{avcSeqBody, keyBody(100, 1), interBody(50, 2)} {
		if _, err := p.Publish(mustTag(t, flv.TagVideo, uint32(i*40), body)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start still waits for an init reply although the publish began while it waited")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Start took %v", took)
	}
	fs := c.waitFor(t, "three frames", func(fs []bus.Frame) bool { return len(fs) == 3 })
	for i, f := range fs {
		if f.Seq != uint64(i+1) || f.Epoch != 7 || f.Init || f.Lost != 0 {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	if st := s.Stats(); st.InitFailures != 0 || st.InitRequests != 1 {
		t.Fatalf("stats %+v: a fresh publish is not a failed fast start", st)
	}
}

func TestStartCanceled(t *testing.T) {
	_, nc := startNATS(t)
	if _, err := nc.Subscribe(bus.StreamSubject("", "live", "mute", bus.KindInit), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	s, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "mute", Handler: func(bus.Frame) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want the context's error", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Start after a failed start = %v, want ErrClosed", err)
	}
}

// TestCloseStopsDelivery checks that no frame reaches the handler after
// Close returns.
func TestCloseStopsDelivery(t *testing.T) {
	_, nc := startNATS(t)
	var closed atomic.Bool
	var late atomic.Int64
	var got atomic.Int64
	s, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "c", NoInit: true, Handler: func(bus.Frame) {
		if closed.Load() {
			late.Add(1)
		}
		got.Add(1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "c", Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	tag := mustTag(t, flv.TagAudio, 0, aacRawBody)
	for i := range 2000 {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
		if i == 1000 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			closed.Store(true)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if late.Load() != 0 || got.Load() > 1001 {
		t.Fatalf("%d frames after Close, %d in all", late.Load(), got.Load())
	}
}

func TestPublisherErrors(t *testing.T) {
	srv, nc := startNATS(t)
	p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "e", Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	tag := mustTag(t, flv.TagAudio, 0, aacRawBody)
	for _, bad := range [][]byte{nil, []byte("not a tag"), tag[:len(tag)-1], append(append([]byte(nil), tag...), 0)} {
		if _, err := p.Publish(bad); err == nil {
			t.Errorf("Publish(% x): no error", bad)
		}
	}
	if seq, err := p.Publish(tag); err != nil || seq != 1 {
		t.Fatalf("Publish = %d, %v; rejected payloads must not take sequence numbers", seq, err)
	}
	if err := p.SetTraceParent("00-abc"); err == nil {
		t.Error("SetTraceParent accepted a malformed traceparent")
	}
	if _, err := p.PublishFrame(flv.TagVideo, 0, make([]byte, flv.MaxTagBodySize+1), time.Now()); err == nil {
		t.Error("PublishFrame accepted a body above the FLV limit")
	}

	// A closed connection: the frame takes its number and is counted.
	other := srv.Connect(t)
	q, err := bus.NewPublisher(other, bus.PublisherConfig{App: "live", Name: "e", Epoch: 2})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if seq, err := q.Publish(tag); !errors.Is(err, nats.ErrConnectionClosed) || seq != 1 {
		t.Fatalf("Publish on a closed connection = %d, %v", seq, err)
	}
	if st := q.Stats(); st.Errors != 1 || st.Frames != 0 {
		t.Fatalf("stats %+v", st)
	}

	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(tag); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after End = %v", err)
	}
	if err := p.End(); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("End after End = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close after End = %v", err)
	}
	if err := p.ServeInit(context.Background()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("ServeInit after End = %v", err)
	}
}

// TestTraceParentAndIngestTime checks the per-frame headers end to end.
func TestTraceParentAndIngestTime(t *testing.T) {
	_, nc := startNATS(t)
	clock := time.Unix(1767225600, 5)
	p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "tp", Epoch: 1, MaxFragmentSize: 1000,
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "tp", NoInit: true}, c)
	small := mustTag(t, flv.TagAudio, 0, aacRawBody)
	big := mustTag(t, flv.TagVideo, 0, keyBody(2500, 1))
	if err := p.SetTraceParent(tp); err != nil {
		t.Fatal(err)
	}
	for _, tag := range [][]byte{small, big} {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetTraceParent(""); err != nil {
		t.Fatal(err)
	}
	for _, tag := range [][]byte{small, big} {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	fs := c.waitFor(t, "four frames", func(fs []bus.Frame) bool { return len(fs) == 4 })
	for i, f := range fs {
		wantTP := ""
		if i < 2 {
			wantTP = tp
		}
		if f.TraceParent != wantTP || f.IngestTime != clock.UnixNano() {
			t.Errorf("frame %d: traceparent %q ingest %d", i, f.TraceParent, f.IngestTime)
		}
	}
	if st := p.Stats(); st.Fragments != 6 {
		t.Errorf("publisher stats %+v, want two frames of 3 fragments", st)
	}
}

// TestInitCacheBound checks that a GOP larger than the cache is left out of
// the fast start, which then holds metadata and sequence headers only.
func TestInitCacheBound(t *testing.T) {
	_, nc := startNATS(t)
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "b", Epoch: 1, InitCacheBytes: 10_000})
	setDataFrame := append([]byte{0x02, 0x00, 0x0d}, "@setDataFrame"...)
	tags := [][]byte{
		mustTag(t, flv.TagScript, 0, append(setDataFrame, metaBody...)),
		mustTag(t, flv.TagVideo, 0, avcSeqBody),
		mustTag(t, flv.TagAudio, 0, aacSeqBody),
		mustTag(t, flv.TagVideo, 0, keyBody(4000, 1)),
		mustTag(t, flv.TagVideo, 40, interBody(4000, 2)),
		mustTag(t, flv.TagVideo, 80, interBody(4000, 3)), // the GOP no longer fits
	}
	for _, tag := range tags {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	c := newCollector()
	s := newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "b"}, c)
	if g := summary(c.snapshot()); !equalStrings(g, []string{"e1/s1/init", "e1/s2/init", "e1/s3/init"}) {
		t.Fatalf("fast start %v, want metadata and sequence headers only", g)
	}
	// The next keyframe starts a GOP that fits again.
	if _, err := p.Publish(mustTag(t, flv.TagVideo, 120, keyBody(4000, 4))); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the keyframe", func(fs []bus.Frame) bool { return len(fs) == 4 && fs[3].Seq == 7 && fs[3].Lost == 0 })
	late := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "b"}, late)
	if g := summary(late.snapshot()); !equalStrings(g, []string{"e1/s1/init", "e1/s2/init", "e1/s3/init", "e1/s7/init"}) {
		t.Fatalf("second fast start %v", g)
	}
	_ = s
}

// TestSnapshotFunction answers init requests from a caller's snapshot.
func TestSnapshotFunction(t *testing.T) {
	_, nc := startNATS(t)
	key := mustTag(t, flv.TagVideo, 0, keyBody(3000, 9))
	seqHdr := mustTag(t, flv.TagVideo, 0, avcSeqBody)
	var calls atomic.Int64
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "snap", Epoch: 8, MaxFragmentSize: 1000,
		Snapshot: func(dst []bus.Frame) []bus.Frame {
			calls.Add(1)
			return append(dst,
				bus.Frame{Seq: 1, Tag: seqHdr},
				bus.Frame{Seq: 0, Tag: key},              // no sequence number: skipped
				bus.Frame{Seq: 4, Tag: []byte("broken")}, // not a tag: skipped
				bus.Frame{Seq: 5, Tag: key, IngestTime: 77},
			)
		}})
	c := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "snap"}, c)
	fs := c.snapshot()
	if g := summary(fs); calls.Load() != 1 || !equalStrings(g, []string{"e8/s1/init", "e8/s5/init"}) || !bytes.Equal(fs[1].Tag, key) || fs[1].IngestTime != 77 {
		t.Fatalf("fast start %v", g)
	}
	if st := p.Stats(); st.InitFrames != 2 || st.InitRequests != 1 {
		t.Fatalf("publisher stats %+v", st)
	}
}

// TestFastStartSplice holds the init reply back while live frames are
// published, so that the reply and the held live frames overlap (or, with a
// small buffer, leave a hole), and checks the splice.
func TestFastStartSplice(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxBuffer int
		want      []string
		dropped   uint64
	}{
		{
			name: "overlap",
			// The snapshot holds 1..5 (two of them also live), the live
			// frames 4..8 follow on without duplicates.
			want: []string{"e2/s1/init", "e2/s2/init", "e2/s3/init", "e2/s4/init", "e2/s5/init", "e2/s6", "e2/s7", "e2/s8"},
		},
		{
			name: "buffer overflow",
			// Only the two newest held frames are kept: 7 and 8 follow the
			// snapshot's 5 with one frame lost.
			maxBuffer: 2 * 40,
			want:      []string{"e2/s1/init", "e2/s2/init", "e2/s3/init", "e2/s4/init", "e2/s5/init", "e2/s7/lost1", "e2/s8"},
			dropped:   3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, nc := startNATS(t)
			tags := make([][]byte, 9)
			for i := 1; i < len(tags); i++ {
				tags[i] = mustTag(t, flv.TagAudio, uint32(i*23), append(append([]byte(nil), aacRawBody...), byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
			}
			requested := make(chan struct{})
			proceed := make(chan struct{})
			p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "splice", Epoch: 2,
				Snapshot: func(dst []bus.Frame) []bus.Frame {
					close(requested)
					<-proceed
					for seq := 1; seq <= 5; seq++ {
						dst = append(dst, bus.Frame{Seq: uint64(seq), Tag: tags[seq]})
					}
					return dst
				}})
			for seq := 1; seq <= 3; seq++ {
				if _, err := p.Publish(tags[seq]); err != nil {
					t.Fatal(err)
				}
			}
			c := newCollector()
			s, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "splice", Handler: c.handle, MaxBufferedBytes: tc.maxBuffer})
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan error, 1)
			go func() { started <- s.Start(context.Background()) }()
			t.Cleanup(func() { s.Close() })
			<-requested
			for seq := 4; seq <= 8; seq++ {
				if _, err := p.Publish(tags[seq]); err != nil {
					t.Fatal(err)
				}
			}
			// Let the live frames reach the subscriber before the reply.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			deadline := time.After(waitTimeout)
			for s.Stats().Held < 5 {
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("live frames not held: %+v", s.Stats())
				}
			}
			if n := len(c.snapshot()); n != 0 {
				t.Fatalf("%d frames delivered before the fast start", n)
			}
			close(proceed)
			if err := <-started; err != nil {
				t.Fatal(err)
			}
			fs := c.waitFor(t, "all frames", func(fs []bus.Frame) bool { return len(fs) == len(tc.want) })
			if g := summary(fs); !equalStrings(g, tc.want) {
				t.Fatalf("delivered %v, want %v", g, tc.want)
			}
			for _, f := range fs {
				if !bytes.Equal(f.Tag, tags[f.Seq]) {
					t.Fatalf("frame %d differs", f.Seq)
				}
			}
			st := s.Stats()
			if st.BufferDropped != tc.dropped || st.InitFrames != 5 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestInitTraceContext checks the trace context of a fast start: the init
// request carries the subscriber's traceparent, which the publisher hands
// to OnInit with what it sent, and every frame of the reply carries the
// publish's traceparent.
func TestInitTraceContext(t *testing.T) {
	_, nc := startNATS(t)
	const subTP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if _, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "tc", Handler: func(bus.Frame) {},
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"}); err == nil {
		t.Fatal("NewSubscriber accepted a malformed traceparent")
	}
	served := make(chan bus.InitServed, 2)
	p := newPublisher(t, nc, bus.PublisherConfig{App: "live", Name: "tc", Epoch: 3,
		OnInit: func(s bus.InitServed) { served <- s }})
	if err := p.SetTraceParent(tp); err != nil {
		t.Fatal(err)
	}
	tags := [][]byte{mustTag(t, flv.TagVideo, 0, keyBody(300, 1)), mustTag(t, flv.TagVideo, 40, interBody(200, 2))}
	for _, tag := range tags {
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, tp string
	}{{"traced subscriber", subTP}, {"untraced subscriber", ""}} {
		t.Run(c.name, func(t *testing.T) {
			col := newCollector()
			newSubscriber(t, nc, bus.SubscriberConfig{App: "live", Name: "tc", TraceParent: c.tp}, col)
			fs := col.waitFor(t, "the init frames", func(fs []bus.Frame) bool { return len(fs) == len(tags) })
			for i, f := range fs {
				if !f.Init || f.TraceParent != tp {
					t.Errorf("init frame %d: Init %v, traceparent %q, want the publish's %q", i, f.Init, f.TraceParent, tp)
				}
			}
			select {
			case s := <-served:
				want := bus.InitServed{TraceParent: c.tp, Frames: len(tags), Bytes: len(tags[0]) + len(tags[1])}
				if s != want {
					t.Errorf("OnInit got %+v, want %+v", s, want)
				}
			case <-time.After(waitTimeout):
				t.Fatal("OnInit not called")
			}
		})
	}
}
