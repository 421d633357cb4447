package edge

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/cluster"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// stepClock is a clock that moves only when the test says.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// readVideo reads messages from c until n video messages have come, and
// returns the bytes of their payloads.
func readVideo(t testing.TB, c *rtmp.ClientConn, n int) uint64 {
	t.Helper()
	var bytes uint64
	for n > 0 {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("player: %v", err)
		}
		if m.Kind == rtmp.KindVideo {
			bytes += uint64(len(m.Payload))
			n--
		}
	}
	return bytes
}

// TestStreamLoadRates checks the per-stream figures of Edge.load against
// the bytes that went in and out, with a clock that moves only between
// samples: rates over the time since the previous sample, players per
// stream, a relay that restarts between samples, and streams that are gone
// forgotten.
func TestStreamLoadRates(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	clk := &stepClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := startEdge(t, ns, "a", func(c *Config) { c.Now = clk.Now })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := StreamKey{App: "live", Name: "x y"}
	lk := cluster.StreamLoadKey(key.App, key.Name)
	stats := func() StreamStats { return a.StreamStats()[key] }

	if l := a.load(); l.Streams != nil || l.BitsIn != 0 || l.BitsOut != 0 {
		t.Fatalf("first load of an idle edge: %+v", l)
	}

	pub := dialClient(t, ctx, a.URL(key.App, key.Name))
	if err := pub.Publish(ctx, key.Name); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{
		{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}, // sequence header
		append([]byte{0x17, 0x01, 0, 0, 0}, make([]byte, 995)...),
		append([]byte{0x27, 0x01, 0, 0, 0}, make([]byte, 495)...),
	}
	var in uint64
	for i, f := range frames {
		if err := pub.WriteVideo(uint32(40*i), f); err != nil {
			t.Fatal(err)
		}
		in += uint64(len(f))
	}
	waitFor(t, 5*time.Second, func() bool { return stats().BytesIn == in })
	if s := stats(); s.Publishers != 1 || s.Players != 0 || s.BytesOut != 0 {
		t.Fatalf("published, not played: %+v", s)
	}

	play := dialClient(t, ctx, a.URL(key.App, key.Name))
	if err := play.Play(ctx, key.Name); err != nil {
		t.Fatal(err)
	}
	out := readVideo(t, play, len(frames)) // the fast start: the whole GOP
	waitFor(t, 5*time.Second, func() bool { return stats().BytesOut == out })

	clk.Add(2 * time.Second)
	l := a.load()
	want := cluster.StreamLoad{BitsIn: float64(in) * 8 / 2, BitsOut: float64(out) * 8 / 2, Players: 1}
	if got := l.Streams[lk]; len(l.Streams) != 1 || got != want {
		t.Fatalf("after 2 s: streams %+v, want %q: %+v", l.Streams, lk, want)
	}
	if l.BitsIn != want.BitsIn || l.BitsOut != want.BitsOut || l.Players != 1 || l.Publishers != 1 {
		t.Errorf("after 2 s: totals %+v, want the stream's", l)
	}

	// One more frame, one second later.
	inter := append([]byte{0x27, 0x01, 0, 0, 0}, make([]byte, 245)...)
	if err := pub.WriteVideo(120, inter); err != nil {
		t.Fatal(err)
	}
	in += uint64(len(inter))
	more := readVideo(t, play, 1)
	out += more
	waitFor(t, 5*time.Second, func() bool { s := stats(); return s.BytesIn == in && s.BytesOut == out })
	clk.Add(time.Second)
	want = cluster.StreamLoad{BitsIn: float64(len(inter)) * 8, BitsOut: float64(more) * 8, Players: 1}
	if got := a.load().Streams[lk]; got != want {
		t.Fatalf("after one frame in 1 s: %+v, want %+v", got, want)
	}

	// Nothing for a second: the stream stays, with no rates.
	clk.Add(time.Second)
	if got, want := a.load().Streams[lk], (cluster.StreamLoad{Players: 1}); got != want {
		t.Fatalf("idle for 1 s: %+v, want %+v", got, want)
	}

	// The player leaves (its relay closes) and another joins before the
	// next sample: the new relay's bytes count from its start.
	play.Close()
	waitFor(t, 5*time.Second, func() bool { return a.Stats().Relays == 0 && stats().Players == 0 })
	play2 := dialClient(t, ctx, a.URL(key.App, key.Name))
	if err := play2.Play(ctx, key.Name); err != nil {
		t.Fatal(err)
	}
	out2 := readVideo(t, play2, len(frames)+1) // the GOP again, with the last frame
	waitFor(t, 5*time.Second, func() bool { return stats().BytesOut == out2 })
	clk.Add(2 * time.Second) // within the reconnect grace (3 s) of the last frame
	want = cluster.StreamLoad{BitsOut: float64(out2) * 8 / 2, Players: 1}
	if got := a.load().Streams[lk]; got != want {
		t.Fatalf("new relay: %+v, want %+v", got, want)
	}

	// Everything ends: the stream is gone from the load and forgotten.
	play2.Close()
	pub.Close()
	waitFor(t, 5*time.Second, func() bool { return len(a.StreamStats()) == 0 })
	clk.Add(time.Second)
	if l := a.load(); l.Streams != nil || l.Players != 0 || l.Publishers != 0 {
		t.Fatalf("after the end: %+v", l)
	}
	a.rateMu.Lock()
	remembered := len(a.ratePubs) + len(a.rateRelays)
	a.rateMu.Unlock()
	if remembered != 0 {
		t.Errorf("%d counters of ended streams remembered", remembered)
	}
}

// TestStreamLoadCluster checks the per-stream figures in the registry of a
// cluster: a stream published on edge A and played twice on B and once
// on A shows its ingest and one player on A, two players on B, and bytes
// out on both; B forgets it when its players leave.
func TestStreamLoadCluster(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	o := clusterOpts{RegistryInterval: 200 * time.Millisecond}
	a := startClusterEdge(t, ns, es, "a", o, nil)
	b := startClusterEdge(t, ns, es, "b", o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const app, name = "live", "cam/1 é"
	lk := cluster.StreamLoadKey(app, name)

	pub := dialClient(t, ctx, appURL(a.testEdge, app))
	if err := pub.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, pub, 1)
	playersB := []*clusterPlayer{
		startClusterPlayer(t, ctx, b.testEdge, app, name, nil),
		startClusterPlayer(t, ctx, b.testEdge, app, name, nil),
	}
	startClusterPlayer(t, ctx, a.testEdge, app, name, nil)

	registered := func(id string) cluster.EdgeInfo {
		info, ok, err := cluster.GetEdge(ctx, a.Etcd, cluster.DefaultPrefix, id)
		if err != nil || !ok {
			t.Fatalf("edge %s not registered: %v", id, err)
		}
		return info
	}
	// The encoder sends about 400 kbit/s of payload; each sample averages
	// 200 ms of it.
	var sa, sb cluster.StreamLoad
	awaitCond(t, 15*time.Second, "the stream's figures in the registry", func() bool {
		sa, sb = registered("a").Load.Streams[lk], registered("b").Load.Streams[lk]
		return sa.BitsIn > 100e3 && sa.BitsIn < 4e6 && sa.Players == 1 && sa.BitsOut > 0 &&
			sb.BitsIn == 0 && sb.Players == 2 && sb.BitsOut > 0
	})
	t.Logf("registry: a %+v, b %+v", sa, sb)
	if s := a.StreamStats()[StreamKey{App: app, Name: name}]; s.Publishers != 1 || s.Players != 1 || s.BytesIn == 0 || s.BytesOut == 0 {
		t.Errorf("edge a stream stats %+v", s)
	}
	if s := b.StreamStats()[StreamKey{App: app, Name: name}]; s.Publishers != 0 || s.Players != 2 || s.BytesIn != 0 || s.BytesOut == 0 {
		t.Errorf("edge b stream stats %+v", s)
	}

	// B's players leave: B reports no stream any more, A still does.
	for _, p := range playersB {
		p.Close()
	}
	awaitCond(t, 15*time.Second, "edge b without streams in the registry", func() bool {
		return registered("b").Load.Streams == nil
	})
	if sa := registered("a").Load.Streams[lk]; sa.Players != 1 {
		t.Errorf("edge a after b's players left: %+v", sa)
	}
	if err := enc.Err(); err != nil {
		t.Errorf("encoder: %v", err)
	}
}
