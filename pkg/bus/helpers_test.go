package bus_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// waitTimeout bounds every wait for something to arrive over NATS.
const waitTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	natstest.ServeIfChild()
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGoroutines waits until no goroutine of nats.go, the embedded server or
// this package is left, and reports the stacks of those that stay.
func checkGoroutines(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "nats-io/") || strings.Contains(g, "tributary/pkg/bus.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines left behind:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNATS starts an embedded server with default options and connects a
// client to it with the bus's reconnect options.
func startNATS(t *testing.T) (*natstest.Server, *nats.Conn) {
	t.Helper()
	srv := natstest.Start(t, natstest.Options{})
	return srv, srv.Connect(t, bus.ReconnectOptions()...)
}

// fileTag is one tag of an FLV file, in file form.
type fileTag struct {
	typ   flv.TagType
	ts    uint32
	body  []byte
	bytes []byte
}

// readFLV reads every tag of an FLV file.
func readFLV(t *testing.T, path string) []fileTag {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(bufio.NewReader(f), flv.ReaderConfig{StrictPreviousTagSize: true})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var tags []fileTag
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err != nil {
			if errors.Is(err, io.EOF) {
				return tags
			}
			t.Fatalf("read %s: %v", path, err)
		}
		b, err := tag.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := tag.Clone()
		tags = append(tags, fileTag{typ: c.Type, ts: c.Timestamp, body: c.Body, bytes: b})
	}
}

// mustTag builds a tag in file form.
func mustTag(t testing.TB, typ flv.TagType, ts uint32, body []byte) []byte {
	t.Helper()
	b, err := flv.AppendTag(nil, typ, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Tag bodies of a small synthetic stream.
var (
	// "onMetaData" as an AMF0 string, then an empty ECMA array.
	metaBody = []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x08, 0, 0, 0, 0, 0, 0, 9}
	// key frame | AVC, AVCPacketType 0 (sequence header), CTS 0, record.
	avcSeqBody = []byte{0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f}
	// AAC, AACPacketType 0 (sequence header), AudioSpecificConfig.
	aacSeqBody = []byte{0xaf, 0x00, 0x12, 0x10}
	// AAC, raw frame.
	aacRawBody = []byte{0xaf, 0x01, 0x21, 0x00, 0x49, 0x90}
)

// keyBody returns an AVC keyframe body (key | AVC, NALU, CTS 0) of n bytes
// whose content depends on seed.
func keyBody(n int, seed byte) []byte {
	b := make([]byte, n)
	copy(b, []byte{0x17, 0x01, 0x00, 0x00, 0x00})
	for i := 5; i < n; i++ {
		b[i] = byte(i) ^ seed
	}
	return b
}

// interBody returns an AVC inter frame body (inter | AVC, NALU, CTS 0).
func interBody(n int, seed byte) []byte {
	b := keyBody(n, seed)
	b[0] = 0x27
	return b
}

// collector is a Subscriber handler that records what it gets.
type collector struct {
	mu     sync.Mutex
	frames []bus.Frame
	notify chan struct{}
}

func newCollector() *collector {
	return &collector{notify: make(chan struct{}, 1)}
}

func (c *collector) handle(f bus.Frame) {
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []bus.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bus.Frame(nil), c.frames...)
}

// waitFor waits until cond holds for the frames collected so far, failing
// the test after waitTimeout.
func (c *collector) waitFor(t *testing.T, what string, cond func([]bus.Frame) bool) []bus.Frame {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		fs := c.snapshot()
		if cond(fs) {
			return fs
		}
		select {
		case <-c.notify:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s; got %d frames", what, len(fs))
		}
	}
}

// hasEnd reports whether the frames end with an end-of-stream event.
func hasEnd(fs []bus.Frame) bool {
	return len(fs) > 0 && fs[len(fs)-1].Event == bus.EventEnd
}

// newSubscriber creates and starts a Subscriber delivering to c.
func newSubscriber(t *testing.T, nc *nats.Conn, cfg bus.SubscriberConfig, c *collector) *bus.Subscriber {
	t.Helper()
	cfg.Handler = c.handle
	s, err := bus.NewSubscriber(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPublisher creates a Publisher that answers init requests.
func newPublisher(t *testing.T, nc *nats.Conn, cfg bus.PublisherConfig) *bus.Publisher {
	t.Helper()
	p, err := bus.NewPublisher(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.ServeInit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
