package rtmp_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// fuzzConn reads a fixed byte stream, then io.EOF; writes are discarded.
type fuzzConn struct{ r *bytes.Reader }

func (f *fuzzConn) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fuzzConn) Write(p []byte) (int, error) { return len(p), nil }

// serverStreamCases are client chunk streams (after the handshake) that seed
// FuzzServerConn; each is also checked by TestServerStreamCases.
func serverStreamCases(t testing.TB) []struct {
	name  string
	bytes []byte
	kinds []rtmp.Kind // what ReadMessage returns, in order
} {
	connect := &message.Command{Name: "connect", TransactionID: 1, Object: amf.Object{
		{Key: "app", Value: "live?key=1"}, {Key: "tcUrl", Value: "rtmp://h/live?token=2"},
		{Key: "capsEx", Value: 1.0}, {Key: "fourCcList", Value: amf.StrictArray{"hvc1"}}}}
	connect3 := &message.Command{AMF3: true, Name: "connect", TransactionID: 1, Object: amf.Object{
		{Key: "app", Value: "live"}, {Key: "objectEncoding", Value: 3.0}}}
	agg := []byte{}
	for i := 0; i < 3; i++ {
		agg = append(agg, 9, 0, 0, 13, 0, 0, byte(i*40), 0, 0, 0, 1)
		agg = append(agg, videoFrame(i, i == 0, 13)...)
		agg = append(agg, 0, 0, 0, 24)
	}
	return []struct {
		name  string
		bytes []byte
		kinds []rtmp.Kind
	}{
		{"publish-media", cat(
			chunkBytes(t, 0, 0, connect, &message.Command{Name: "releaseStream", TransactionID: 2, Args: []any{"s"}},
				&message.Command{Name: "FCPublish", TransactionID: 3, Args: []any{"s"}},
				&message.Command{Name: "createStream", TransactionID: 4}),
			chunkBytes(t, 4096, 1, &message.Command{Name: "publish", TransactionID: 5, Args: []any{"s?k=v", "live"}},
				&message.Data{Name: "@setDataFrame", Values: []any{"onMetaData", amf.ECMAArray{{Key: "width", Value: 1.0}}}},
				&message.Video{Payload: avcSeqHeader}, &message.Audio{Payload: aacSeqHeader},
				&message.Video{Payload: videoFrame(0, true, 300)},
				&message.Aggregate{Payload: agg}),
			chunkBytes(t, 0, 0, &message.Command{Name: "FCUnpublish", TransactionID: 6, Args: []any{"s"}},
				&message.Command{Name: "deleteStream", TransactionID: 7, Args: []any{1.0}})),
			[]rtmp.Kind{rtmp.KindPublish, rtmp.KindData, rtmp.KindVideo, rtmp.KindAudio, rtmp.KindVideo,
				rtmp.KindVideo, rtmp.KindVideo, rtmp.KindVideo, rtmp.KindUnpublish, rtmp.KindCloseStream}},
		// Media on message stream 0 while stream 1 publishes, as
		// node-media-server's client sends it; after deleteStream there is
		// no publish left and the last video is dropped.
		{"publish-media-stream-zero", cat(
			chunkBytes(t, 0, 0, connect, &message.Command{Name: "createStream", TransactionID: 2}),
			chunkBytes(t, 4096, 1, &message.Command{Name: "publish", TransactionID: 3, Args: []any{"s", "live"}}),
			chunkBytes(t, 4096, 0, &message.Data{Name: "@setDataFrame", Values: []any{"onMetaData", amf.ECMAArray{{Key: "width", Value: 1.0}}}},
				&message.Video{Payload: avcSeqHeader}, &message.Audio{Payload: aacSeqHeader},
				&message.Aggregate{Payload: agg},
				&message.Command{Name: "deleteStream", TransactionID: 4, Args: []any{1.0}},
				&message.Video{Payload: videoFrame(3, true, 300)})),
			[]rtmp.Kind{rtmp.KindPublish, rtmp.KindData, rtmp.KindVideo, rtmp.KindAudio,
				rtmp.KindVideo, rtmp.KindVideo, rtmp.KindVideo, rtmp.KindUnpublish}},
		{"play-pause", append(chunkBytes(t, 0, 0, connect, &message.Command{Name: "createStream", TransactionID: 2},
			&message.UserControl{Event: message.EventPingRequest, Timestamp: 7}),
			chunkBytes(t, 0, 1, &message.Command{Name: "play", TransactionID: 3, Args: []any{"s", -2.0, -1.0, false}},
				&message.Command{Name: "pause", Args: []any{true, 1000.0}},
				&message.Command{Name: "pause", Args: []any{false, 1000.0}},
				&message.Command{Name: "receiveVideo", Args: []any{false}},
				&message.Command{Name: "closeStream"})...),
			[]rtmp.Kind{rtmp.KindPlay, rtmp.KindPause, rtmp.KindPause, rtmp.KindCommand, rtmp.KindCloseStream}},
		{"amf3-commands", append(chunkBytes(t, 0, 0, connect3, &message.Command{AMF3: true, Name: "createStream", TransactionID: 2},
			&message.Command{AMF3: true, Name: "someCall", TransactionID: 3, Args: []any{&amf.AVMPlus{Value: int32(5)}}}),
			chunkBytes(t, 0, 1, &message.Command{AMF3: true, Name: "publish", TransactionID: 4, Args: []any{"x"}})...),
			[]rtmp.Kind{rtmp.KindCommand, rtmp.KindPublish}},
		{"control-only", chunkBytes(t, 0, 0, &message.WindowAckSize{Size: 10},
			&message.SetPeerBandwidth{Window: 10, Limit: message.LimitHard}, &message.Abort{CSID: 5},
			&message.UserControl{Event: message.EventSetBufferLength, StreamID: 1, BufferLength: 3}, connect,
			&message.Unknown{TypeID: 7, Payload: []byte{1}}), nil},
		{"media-before-connect", chunkBytes(t, 0, 1, &message.Video{Payload: []byte{0x17}}), nil},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), nil},
		{"truncated-connect", chunkBytes(t, 0, 0, connect)[:40], nil},
	}
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// runServerStream runs a ServerConn over a client chunk stream, accepting
// everything, and returns the kinds ReadMessage returned.
func runServerStream(t testing.TB, stream []byte) []rtmp.Kind {
	in := append([]byte{3}, make([]byte, 2*handshake.PacketSize)...)
	c := rtmp.NewServerConn(&fuzzConn{bytes.NewReader(append(in, stream...))}, rtmp.ServerConfig{
		Chunk: chunkCfgSmall,
	})
	defer c.Close()
	req, err := c.ReadConnect()
	if err != nil {
		return nil
	}
	if strings.Contains(req.App, "?") || strings.HasSuffix(req.App, "/") {
		t.Fatalf("app %q keeps its query or slash", req.App)
	}
	if err := c.AcceptConnect(nil); err != nil {
		t.Fatalf("AcceptConnect: %v", err)
	}
	var kinds []rtmp.Kind
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return kinds
		}
		kinds = append(kinds, m.Kind)
		switch m.Kind {
		case rtmp.KindPublish:
			// The name re-encodes to what was sent.
			if q := m.Publish.Query.Encode(); q == "" && m.Publish.RawName != m.Publish.Name &&
				m.Publish.RawName != m.Publish.Name+"?" {
				if !strings.HasPrefix(m.Publish.RawName, m.Publish.Name+"?") {
					t.Fatalf("publish name %q from %q", m.Publish.Name, m.Publish.RawName)
				}
			}
			c.AcceptPublish(m.Publish)
		case rtmp.KindPlay:
			c.AcceptPlay(m.Play)
		case rtmp.KindAudio, rtmp.KindVideo:
			if len(m.Payload) > len(stream) {
				t.Fatalf("payload of %d bytes from %d input bytes", len(m.Payload), len(stream))
			}
		case rtmp.KindData:
			// Data re-encodes to the payload it came from (AMF0).
			if !m.Data.AMF3 {
				re, err := (&message.Data{Name: m.Data.Name, Values: m.Data.Values}).AppendPayload(nil)
				if err != nil {
					t.Fatalf("re-encode data: %v", err)
				}
				var d message.Data
				if err := d.Unmarshal(re); err != nil || d.Name != m.Data.Name || len(d.Values) != len(m.Data.Values) {
					t.Fatalf("data %q does not round-trip: %v", m.Data.Name, err)
				}
			}
		}
	}
}

func TestServerStreamCases(t *testing.T) {
	for _, tc := range serverStreamCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := runServerStream(t, tc.bytes)
			if len(got) != len(tc.kinds) {
				t.Fatalf("kinds %v, want %v", got, tc.kinds)
			}
			for i := range got {
				if got[i] != tc.kinds[i] {
					t.Fatalf("kinds %v, want %v", got, tc.kinds)
				}
			}
		})
	}
}

// FuzzServerConn feeds arbitrary client chunk streams (after a valid
// handshake) to a ServerConn that accepts every request: nothing may panic
// or hang, memory stays within the chunk limits, and what parses is
// consistent with its input.
func FuzzServerConn(f *testing.F) {
	for _, tc := range serverStreamCases(f) {
		f.Add(tc.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		runServerStream(t, b)
	})
}

// clientStreamCases are server chunk streams (after the handshake) that
// seed FuzzClientConn.
func clientStreamCases(t testing.TB) []struct {
	name  string
	bytes []byte
} {
	result := message.Result(1, amf.Object{{Key: "fmsVer", Value: "FMS/3"}}, message.StatusInfo("status", rtmp.CodeConnectSuccess, "ok"))
	return []struct {
		name  string
		bytes []byte
	}{
		{"play-media", append(chunkBytes(t, 4096, 0, &message.WindowAckSize{Size: 5000},
			&message.SetPeerBandwidth{Window: 5000, Limit: message.LimitDynamic}, result,
			message.CreateStreamResult(2, 1), &message.UserControl{Event: message.EventStreamBegin, StreamID: 1},
			&message.UserControl{Event: message.EventPingRequest, Timestamp: 9}),
			chunkBytes(t, 0, 1, message.OnStatus("status", rtmp.CodePlayReset, ""), message.OnStatus("status", rtmp.CodePlayStart, ""),
				&message.Data{Name: "|RtmpSampleAccess", Values: []any{true, true}},
				&message.Data{Name: "onMetaData", Values: []any{amf.ECMAArray{{Key: "width", Value: 2.0}}}},
				&message.Video{Payload: avcSeqHeader}, &message.Video{Payload: videoFrame(0, true, 100)},
				message.OnStatus("status", rtmp.CodeConnectReconnectRequest, "", amf.Property{Key: "tcUrl", Value: "rtmp://x/y"}),
				message.OnStatus("status", rtmp.CodePlayUnpublishNotify, ""))...)},
		{"play-rejected", append(chunkBytes(t, 0, 0, result, message.CreateStreamResult(2, 1)),
			chunkBytes(t, 0, 1, message.OnStatus("error", rtmp.CodePlayStreamNotFound, "no"))...)},
		{"connect-error", chunkBytes(t, 0, 0, message.ErrorResult(1, nil, message.StatusInfo("error", rtmp.CodeConnectRejected, "no")))},
		{"bad-createstream", chunkBytes(t, 0, 0, result, message.Result(2, nil, "one"))},
	}
}

// runClientStream runs Connect, Play and ReadMessage over a server chunk
// stream.
func runClientStream(t testing.TB, stream []byte) {
	in := append([]byte{3}, make([]byte, 2*handshake.PacketSize)...)
	c, err := rtmp.NewClientConn(&fuzzPipe{fuzzConn{bytes.NewReader(append(in, stream...))}}, "rtmp://127.0.0.1/live/s",
		rtmp.ClientConfig{Chunk: chunkCfgSmall})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.Connect(ctx) != nil || c.Play(ctx, "") != nil {
		return
	}
	for i := 0; i < len(stream)+100; i++ {
		if _, err := c.ReadMessage(); err != nil {
			return
		}
	}
	t.Fatal("ReadMessage did not end at the end of the input")
}

// fuzzPipe is a fuzzConn that the client's handshake can read and write
// concurrently.
type fuzzPipe struct{ fuzzConn }

func (f *fuzzPipe) Close() error { return nil }

func FuzzClientConn(f *testing.F) {
	for _, tc := range clientStreamCases(f) {
		f.Add(tc.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		runClientStream(t, b)
	})
}

// chunkCfgSmall keeps fuzzing memory small.
var chunkCfgSmall = chunk.Config{MaxMessageLength: 1 << 20, MaxPendingBytes: 4 << 20}
