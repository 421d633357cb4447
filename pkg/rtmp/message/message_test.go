package message_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// decodeCase is one payload that decodes to value. The table drives
// TestDecodeCases (decode), TestEncodeCases (encode), the FuzzDecode seeds
// and the committed seed corpus.
type decodeCase struct {
	name  string
	typ   uint8
	bytes []byte
	value message.Message
	// encoded is what value encodes to when it differs from bytes (AMF3
	// values re-encoded as AMF0, dropped trailing bytes, omitted fields).
	encoded []byte
}

func decodeCases() []decodeCase {
	return []decodeCase{
		{
			name:  "set-chunk-size",
			typ:   1,
			bytes: []byte{0x00, 0x00, 0x10, 0x00}, // size 4096
			value: &message.SetChunkSize{Size: 4096},
		},
		{
			name:  "set-chunk-size-max",
			typ:   1,
			bytes: []byte{0x7F, 0xFF, 0xFF, 0xFF}, // size 0x7FFFFFFF, bit 31 clear
			value: &message.SetChunkSize{Size: 0x7FFFFFFF},
		},
		{
			name:  "abort",
			typ:   2,
			bytes: []byte{0x00, 0x00, 0x00, 0x06}, // csid 6
			value: &message.Abort{CSID: 6},
		},
		{
			name:  "acknowledgement",
			typ:   3,
			bytes: []byte{0xF0, 0x00, 0x00, 0x01}, // sequence 0xF0000001
			value: &message.Acknowledgement{Sequence: 0xF0000001},
		},
		{
			name:  "window-ack-size",
			typ:   5,
			bytes: []byte{0x00, 0x26, 0x25, 0xA0}, // 2,500,000
			value: &message.WindowAckSize{Size: 2500000},
		},
		{
			name: "set-peer-bandwidth-dynamic",
			typ:  6,
			bytes: []byte{
				0x00, 0x4C, 0x4B, 0x40, // window 5,000,000
				0x02, // limit type 2, dynamic
			},
			value: &message.SetPeerBandwidth{Window: 5000000, Limit: message.LimitDynamic},
		},
		{
			name: "set-peer-bandwidth-trailing",
			typ:  6,
			bytes: []byte{
				0x00, 0x00, 0x10, 0x00, // window 4096
				0x00,       // hard
				0xAA, 0xBB, // ignored
			},
			value:   &message.SetPeerBandwidth{Window: 4096, Limit: message.LimitHard},
			encoded: []byte{0x00, 0x00, 0x10, 0x00, 0x00},
		},
		{
			name: "user-control-stream-begin",
			typ:  4,
			bytes: []byte{
				0x00, 0x00, // event 0, StreamBegin
				0x00, 0x00, 0x00, 0x01, // stream id 1
			},
			value: &message.UserControl{Event: message.EventStreamBegin, StreamID: 1},
		},
		{
			name:  "user-control-stream-eof",
			typ:   4,
			bytes: []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x02}, // StreamEOF, stream 2
			value: &message.UserControl{Event: message.EventStreamEOF, StreamID: 2},
		},
		{
			name:  "user-control-is-recorded",
			typ:   4,
			bytes: []byte{0x00, 0x04, 0x00, 0x00, 0x00, 0x01}, // StreamIsRecorded, stream 1
			value: &message.UserControl{Event: message.EventStreamIsRecorded, StreamID: 1},
		},
		{
			name: "user-control-set-buffer-length",
			typ:  4,
			bytes: []byte{
				0x00, 0x03, // event 3, SetBufferLength
				0x00, 0x00, 0x00, 0x01, // stream id 1
				0x00, 0x00, 0x0B, 0xB8, // 3000 ms
			},
			value: &message.UserControl{Event: message.EventSetBufferLength, StreamID: 1, BufferLength: 3000},
		},
		{
			name: "user-control-ping-request",
			typ:  4,
			bytes: []byte{
				0x00, 0x06, // event 6, PingRequest
				0x12, 0x34, 0x56, 0x78, // server timestamp
			},
			value: &message.UserControl{Event: message.EventPingRequest, Timestamp: 0x12345678},
		},
		{
			name:  "user-control-ping-response",
			typ:   4,
			bytes: []byte{0x00, 0x07, 0x12, 0x34, 0x56, 0x78}, // PingResponse, echoed timestamp
			value: &message.UserControl{Event: message.EventPingResponse, Timestamp: 0x12345678},
		},
		{
			name:  "user-control-buffer-empty",
			typ:   4,
			bytes: []byte{0x00, 0x1F, 0x00, 0x00, 0x00, 0x01}, // event 31, stream 1
			value: &message.UserControl{Event: message.EventBufferEmpty, StreamID: 1},
		},
		{
			name:  "user-control-swf-request",
			typ:   4,
			bytes: []byte{0x00, 0x1A}, // event 26, no data
			value: &message.UserControl{Event: message.EventSWFVerifyRequest},
		},
		{
			name: "user-control-unknown-event",
			typ:  4,
			bytes: []byte{
				0x00, 0x63, // event 99: unknown
				0xDE, 0xAD, 0xBE, // raw data
			},
			value: &message.UserControl{Event: 99, Raw: []byte{0xDE, 0xAD, 0xBE}},
		},
		{
			name: "user-control-stream-begin-trailing",
			typ:  4,
			bytes: []byte{
				0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // StreamBegin 1
				0xFF, 0xFF, // ignored
			},
			value:   &message.UserControl{Event: message.EventStreamBegin, StreamID: 1},
			encoded: []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x01},
		},
		{
			name: "audio-aac-raw",
			typ:  8,
			bytes: []byte{
				0xAF,       // AAC, 44 kHz, 16-bit, stereo
				0x01,       // AAC raw frame
				0x21, 0x10, // frame data
			},
			value: &message.Audio{Payload: []byte{0xAF, 0x01, 0x21, 0x10}},
		},
		{
			name:  "audio-empty",
			typ:   8,
			bytes: []byte{}, // silence (Enhanced RTMP v2)
			value: &message.Audio{},
		},
		{
			name: "video-avc-keyframe",
			typ:  9,
			bytes: []byte{
				0x17,             // keyframe, AVC
				0x01,             // NALU
				0x00, 0x00, 0x00, // composition time 0
				0x00, 0x00, 0x00, 0x02, 0x65, 0x88, // one NAL unit, length-prefixed
			},
			value: &message.Video{Payload: []byte{0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88}},
		},
		{
			name: "data-set-data-frame",
			typ:  18,
			bytes: cat(
				amfStr("@setDataFrame"),
				amfStr("onMetaData"),
				[]byte{0x08, 0x00, 0x00, 0x00, 0x02}, // ECMA array, count 2
				amfKey("width"), amfNum(1280),
				amfKey("height"), amfNum(720),
				[]byte{0x00, 0x00, 0x09}, // end
			),
			value: &message.Data{Name: "@setDataFrame", Values: []any{
				"onMetaData",
				amf.ECMAArray{{Key: "width", Value: 1280.0}, {Key: "height", Value: 720.0}},
			}},
		},
		{
			name: "data-sample-access",
			typ:  18,
			bytes: cat(
				amfStr("|RtmpSampleAccess"),
				[]byte{0x01, 0x01}, // true (audio)
				[]byte{0x01, 0x01}, // true (video)
			),
			value: &message.Data{Name: "|RtmpSampleAccess", Values: []any{true, true}},
		},
		{
			name: "data-amf3-metadata",
			typ:  15,
			bytes: cat(
				[]byte{0x00},                   // format byte
				amfStr("onMetaData"),           // AMF0 name
				[]byte{0x11, 0x0A, 0x0B, 0x01}, // AVM+, AMF3 object, dynamic traits, class ""
				[]byte{0x0B}, []byte("width"),  // key "width" (U29 5<<1|1)
				[]byte{0x04, 0x8A, 0x00}, // integer 1280 (U29 0x8A 0x00)
				[]byte{0x01},             // end of dynamic members
			),
			value: &message.Data{AMF3: true, Name: "onMetaData", Values: []any{
				amf.Object{{Key: "width", Value: int32(1280)}},
			}},
			encoded: cat(
				[]byte{0x00}, amfStr("onMetaData"),
				[]byte{0x03}, amfKey("width"), amfNum(1280), []byte{0x00, 0x00, 0x09}, // AMF0 object
			),
		},
		{
			name: "command-connect",
			typ:  20,
			bytes: cat(
				amfStr("connect"),
				amfNum(1),    // transaction id
				[]byte{0x03}, // object
				amfKey("app"), amfStr("live"),
				amfKey("tcUrl"), amfStr("rtmp://127.0.0.1/live"),
				amfKey("objectEncoding"), amfNum(0),
				[]byte{0x00, 0x00, 0x09}, // end
			),
			value: &message.Command{Name: "connect", TransactionID: 1, Object: amf.Object{
				{Key: "app", Value: "live"},
				{Key: "tcUrl", Value: "rtmp://127.0.0.1/live"},
				{Key: "objectEncoding", Value: 0.0},
			}},
		},
		{
			name: "command-connect-amf3",
			typ:  17,
			bytes: cat(
				[]byte{0x00},                   // format byte
				amfStr("connect"),              // AMF0 name
				amfNum(1),                      // AMF0 transaction id
				[]byte{0x11, 0x0A, 0x0B, 0x01}, // AVM+, AMF3 object, dynamic traits, class ""
				[]byte{0x07}, []byte("app"),    // key "app"
				[]byte{0x06, 0x09}, []byte("live"), // string "live"
				[]byte{0x01}, // end of dynamic members
			),
			value: &message.Command{AMF3: true, Name: "connect", TransactionID: 1, Object: amf.Object{
				{Key: "app", Value: "live"},
			}},
			encoded: cat(
				[]byte{0x00}, amfStr("connect"), amfNum(1),
				[]byte{0x03}, amfKey("app"), amfStr("live"), []byte{0x00, 0x00, 0x09},
			),
		},
		{
			name: "command-create-stream",
			typ:  20,
			bytes: cat(
				amfStr("createStream"),
				amfNum(4),    // transaction id
				[]byte{0x05}, // null
			),
			value: &message.Command{Name: "createStream", TransactionID: 4},
		},
		{
			name: "command-create-stream-result",
			typ:  20,
			bytes: cat(
				amfStr("_result"),
				amfNum(4),    // transaction id
				[]byte{0x05}, // null
				amfNum(1),    // stream id
			),
			value: &message.Command{Name: "_result", TransactionID: 4, Args: []any{1.0}},
		},
		{
			name: "command-publish",
			typ:  20,
			bytes: cat(
				amfStr("publish"),
				amfNum(5),
				[]byte{0x05}, // null
				amfStr("stream?key=1"),
				amfStr("live"),
			),
			value: &message.Command{Name: "publish", TransactionID: 5, Args: []any{"stream?key=1", "live"}},
		},
		{
			name: "command-on-status",
			typ:  20,
			bytes: cat(
				amfStr("onStatus"),
				amfNum(0),
				[]byte{0x05}, // null
				[]byte{0x03},
				amfKey("level"), amfStr("status"),
				amfKey("code"), amfStr("NetStream.Publish.Start"),
				amfKey("description"), amfStr("Start publishing"),
				[]byte{0x00, 0x00, 0x09},
			),
			value: message.OnStatus(message.LevelStatus, message.CodePublishStart, "Start publishing"),
		},
		{
			name:    "command-name-only",
			typ:     20,
			bytes:   amfStr("close"),
			value:   &message.Command{Name: "close"},
			encoded: cat(amfStr("close"), amfNum(0), []byte{0x05}),
		},
		{
			name: "shared-object",
			typ:  19,
			bytes: cat(
				[]byte{0x00, 0x02}, []byte("so"), // name
				[]byte{0x00, 0x00, 0x00, 0x01},                         // version 1
				[]byte{0, 0, 0, 0, 0, 0, 0, 0},                         // flags
				[]byte{0x01, 0x00, 0x00, 0x00, 0x00},                   // event Use, no data
				[]byte{0x04, 0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC}, // event Change, 3 bytes
			),
			value: &message.SharedObject{Name: "so", Version: 1, Events: []message.SOEvent{
				{Type: message.SOUse},
				{Type: message.SOChange, Data: []byte{0xAA, 0xBB, 0xCC}},
			}},
		},
		{
			name: "shared-object-amf3",
			typ:  16,
			bytes: cat(
				[]byte{0x00},                    // format byte
				[]byte{0x00, 0x01}, []byte("x"), // name
				[]byte{0x00, 0x00, 0x00, 0x07}, // version 7
				[]byte{0, 0, 0, 2, 0, 0, 0, 0}, // flags
			),
			value: &message.SharedObject{AMF3: true, Name: "x", Version: 7, Flags: [8]byte{0, 0, 0, 2}},
		},
		{
			name:  "aggregate",
			typ:   22,
			bytes: aggregateThree,
			value: &message.Aggregate{Payload: aggregateThree},
		},
		{
			name:  "unknown-type-7",
			typ:   7,
			bytes: []byte{0x01, 0x02, 0x03},
			value: &message.Unknown{TypeID: 7, Payload: []byte{0x01, 0x02, 0x03}},
		},
		{
			name:  "unknown-type-255",
			typ:   255,
			bytes: []byte{},
			value: &message.Unknown{TypeID: 255},
		},
	}
}

// aggregateThree is an aggregate of three sub-tags (video, audio, video)
// with timestamps 1000, 1010, 1033 and sub-header stream id 5.
var aggregateThree = cat(
	[]byte{0x09, 0x00, 0x00, 0x02, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x00, 0x05}, // video, 2 bytes, ts 1000, stream 5
	[]byte{0x17, 0x01},             // data
	[]byte{0x00, 0x00, 0x00, 0x0D}, // back pointer 13
	[]byte{0x08, 0x00, 0x00, 0x03, 0x00, 0x03, 0xF2, 0x00, 0x00, 0x00, 0x05}, // audio, 3 bytes, ts 1010
	[]byte{0xAF, 0x01, 0x21},       // data
	[]byte{0x00, 0x00, 0x00, 0x0E}, // back pointer 14
	[]byte{0x09, 0x00, 0x00, 0x01, 0x00, 0x04, 0x09, 0x00, 0x00, 0x00, 0x05}, // video, 1 byte, ts 1033
	[]byte{0x27},                   // data
	[]byte{0x00, 0x00, 0x00, 0x0C}, // back pointer 12
)

// errorCase is a payload that must fail to decode with ErrMalformed.
type errorCase struct {
	name  string
	typ   uint8
	bytes []byte
}

func errorCases() []errorCase {
	return []errorCase{
		{"set-chunk-size-short", 1, []byte{0x00, 0x10, 0x00}},
		{"set-chunk-size-zero", 1, []byte{0x00, 0x00, 0x00, 0x00}},
		{"set-chunk-size-bit31", 1, []byte{0x80, 0x00, 0x10, 0x00}},
		{"abort-short", 2, []byte{0x00}},
		{"acknowledgement-short", 3, nil},
		{"window-ack-size-short", 5, []byte{0x00, 0x00}},
		{"set-peer-bandwidth-short", 6, []byte{0x00, 0x00, 0x10, 0x00}}, // no limit type
		{"user-control-empty", 4, nil},
		{"user-control-one-byte", 4, []byte{0x00}},
		{"user-control-stream-begin-short", 4, []byte{0x00, 0x00, 0x00, 0x01}},
		{"user-control-set-buffer-length-short", 4, []byte{0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}},
		{"user-control-ping-short", 4, []byte{0x00, 0x06, 0x00}},
		{"data-empty", 18, nil},
		{"data-amf3-format-byte-only", 15, []byte{0x00}},
		{"data-name-not-string", 18, amfNum(1)},
		{"data-truncated-amf", 18, []byte{0x02, 0x00, 0x05, 'o', 'n'}},
		{"command-empty", 20, nil},
		{"command-name-null", 20, []byte{0x05}},
		{"command-txid-string", 20, cat(amfStr("connect"), amfStr("1"))},
		{"command-bad-marker", 20, cat(amfStr("connect"), []byte{0x42})},
		{"command-amf3-bad-avmplus", 17, cat([]byte{0x00}, amfStr("connect"), amfNum(1), []byte{0x11, 0x0A})},
		{"shared-object-short", 19, []byte{0x00, 0x05, 'a'}},
		{"shared-object-amf3-empty", 16, nil},
		{"shared-object-event-overrun", 19, cat(
			[]byte{0x00, 0x00},                         // empty name
			[]byte{0x00, 0x00, 0x00, 0x00},             // version
			make([]byte, 8),                            // flags
			[]byte{0x04, 0x00, 0x00, 0x01, 0x00, 0xAA}, // event claims 256 bytes, has 1
		)},
		{"shared-object-event-header-short", 19, cat([]byte{0x00, 0x00}, make([]byte, 12), []byte{0x04, 0x00})},
	}
}

func chunkOf(typ uint8, payload []byte) *chunk.Message {
	return &chunk.Message{CSID: 3, Timestamp: 40, Type: typ, StreamID: 1, Payload: payload}
}

func TestDecodeCases(t *testing.T) {
	var d message.Decoder
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, dec := range []struct {
				name string
				fn   func(*chunk.Message) (message.Message, error)
			}{{"Decode", message.Decode}, {"Decoder", d.Decode}} {
				got, err := dec.fn(chunkOf(c.typ, c.bytes))
				if err != nil {
					t.Fatalf("%s: %v", dec.name, err)
				}
				if got.Type() != c.typ {
					t.Fatalf("%s: Type() = %d, want %d", dec.name, got.Type(), c.typ)
				}
				if ok, diff := equivalent(got, c.value); !ok {
					t.Fatalf("%s: decoded %#v\nwant %#v\n(%s)", dec.name, got, c.value, diff)
				}
			}
		})
	}
}

func TestEncodeCases(t *testing.T) {
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			want := c.bytes
			if c.encoded != nil {
				want = c.encoded
			}
			prefix := []byte("prefix")
			got, err := c.value.AppendPayload(bytes.Clone(prefix))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
				t.Fatalf("AppendPayload = % x\nwant          % x", got[len(prefix):], want)
			}
			if c.value.Type() != c.typ {
				t.Fatalf("Type() = %d, want %d", c.value.Type(), c.typ)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range errorCases() {
		t.Run(c.name, func(t *testing.T) {
			msg, err := message.Decode(chunkOf(c.typ, c.bytes))
			if !errors.Is(err, message.ErrMalformed) {
				t.Fatalf("Decode = %#v, %v; want an ErrMalformed error", msg, err)
			}
			if msg != nil {
				t.Fatalf("Decode returned a message with the error: %#v", msg)
			}
			var d message.Decoder
			if _, err := d.Decode(chunkOf(c.typ, c.bytes)); !errors.Is(err, message.ErrMalformed) {
				t.Fatalf("Decoder.Decode: %v; want ErrMalformed", err)
			}
		})
	}
}

func TestEncodeInvalid(t *testing.T) {
	for _, m := range []message.Message{
		&message.SetChunkSize{Size: 0},
		&message.SetChunkSize{Size: 0x80000000},
		&message.Command{Name: "x", Args: []any{make(chan int)}},
		&message.Data{Name: "x", Values: []any{struct{}{}}},
		&message.SharedObject{Name: string(make([]byte, 70000))},
	} {
		if _, err := m.AppendPayload(nil); err == nil {
			t.Errorf("%#v encoded without error", m)
		}
		if _, err := message.ToChunk(m, 0, 0, nil); err == nil {
			t.Errorf("ToChunk(%#v) without error", m)
		}
	}
}

func TestToChunk(t *testing.T) {
	cases := []struct {
		msg      message.Message
		streamID uint32
		csid     uint32
	}{
		{&message.SetChunkSize{Size: 4096}, 0, 2},
		{&message.WindowAckSize{Size: 1}, 0, 2},
		{&message.SetPeerBandwidth{Window: 1}, 0, 2},
		{&message.Acknowledgement{}, 0, 2},
		{&message.Abort{}, 0, 2},
		{&message.UserControl{Event: message.EventStreamBegin, StreamID: 1}, 0, 2},
		{message.Result(1, nil), 0, 3},
		{message.OnStatus(message.LevelStatus, message.CodePublishStart, ""), 1, 5},
		{&message.Data{Name: "onMetaData"}, 1, 5},
		{&message.Data{Name: "onMetaData"}, 0, 3},
		{&message.Audio{Payload: []byte{0xAF}}, 1, 6},
		{&message.Video{Payload: []byte{0x17}}, 1, 7},
		{&message.Aggregate{}, 1, 7},
		{&message.Unknown{TypeID: 7}, 0, 3},
	}
	buf := make([]byte, 0, 64)
	for _, c := range cases {
		m, err := message.ToChunk(c.msg, c.streamID, 1234, buf)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := c.msg.AppendPayload(nil)
		if m.CSID != c.csid || m.Type != c.msg.Type() || m.StreamID != c.streamID || m.Timestamp != 1234 ||
			!bytes.Equal(m.Payload, want) {
			t.Errorf("ToChunk(%T, %d) = %+v; want csid %d and the message's payload", c.msg, c.streamID, m, c.csid)
		}
	}
}

// Case 33: unknown message types and unknown user-control events decode
// without error, so the connection can ignore them.
func TestCase33UnknownIgnored(t *testing.T) {
	for _, typ := range []uint8{0, 7, 10, 11, 12, 13, 14, 21, 23, 100, 255} {
		msg, err := message.Decode(chunkOf(typ, []byte{0xFF, 0x00}))
		if err != nil {
			t.Fatalf("type %d: %v", typ, err)
		}
		u, ok := msg.(*message.Unknown)
		if !ok || u.TypeID != typ || !bytes.Equal(u.Payload, []byte{0xFF, 0x00}) {
			t.Fatalf("type %d decoded as %#v, want *Unknown with the payload", typ, msg)
		}
	}
	for _, ev := range []uint16{5, 8, 25, 28, 30, 33, 0xFFFF} {
		msg, err := message.Decode(chunkOf(message.TypeUserControl, []byte{byte(ev >> 8), byte(ev), 0x01}))
		if err != nil {
			t.Fatalf("event %d: %v", ev, err)
		}
		uc := msg.(*message.UserControl)
		if uc.Event != message.Event(ev) || !bytes.Equal(uc.Raw, []byte{0x01}) {
			t.Fatalf("event %d decoded as %+v", ev, uc)
		}
	}
}

// Case 31: PingRequest with timestamp T is answered by PingResponse with T.
func TestCase31PingResponse(t *testing.T) {
	msg, err := message.Decode(chunkOf(message.TypeUserControl, []byte{
		0x00, 0x06, // PingRequest
		0xCA, 0xFE, 0xBA, 0xBE, // T
	}))
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := message.PingResponse(msg.(*message.UserControl))
	if !ok {
		t.Fatal("PingRequest not recognised")
	}
	got, err := message.ToChunk(&resp, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x07, 0xCA, 0xFE, 0xBA, 0xBE} // PingResponse, T
	if got.Type != message.TypeUserControl || got.CSID != 2 || got.StreamID != 0 || !bytes.Equal(got.Payload, want) {
		t.Fatalf("response %+v, want type 4 on csid 2, msid 0, payload % x", got, want)
	}
	for _, other := range []message.UserControl{
		{Event: message.EventPingResponse, Timestamp: 1},
		{Event: message.EventStreamBegin},
	} {
		if _, ok := message.PingResponse(&other); ok {
			t.Fatalf("PingResponse answered %v", other.Event)
		}
	}
}

// Case 32: SetBufferLength (10 bytes) parses into msid and milliseconds;
// shorter payloads give an ErrMalformed error the connection ignores.
func TestCase32SetBufferLength(t *testing.T) {
	full := []byte{
		0x00, 0x03, // SetBufferLength
		0x00, 0x00, 0x00, 0x07, // msid 7
		0x00, 0x00, 0x75, 0x30, // 30000 ms
	}
	msg, err := message.Decode(chunkOf(message.TypeUserControl, full))
	if err != nil {
		t.Fatal(err)
	}
	if uc := msg.(*message.UserControl); uc.StreamID != 7 || uc.BufferLength != 30000 {
		t.Fatalf("decoded %+v, want stream 7, 30000 ms", uc)
	}
	for n := 2; n < len(full); n++ {
		_, err := message.Decode(chunkOf(message.TypeUserControl, full[:n]))
		if !errors.Is(err, message.ErrMalformed) {
			t.Fatalf("%d-byte SetBufferLength: %v, want ErrMalformed", n, err)
		}
	}
}

// Case 39: a type-17 command with its leading 0x00 and an AVM+ (0x11) AMF3
// value decodes like the equivalent type-20 command.
func TestCase39AMF3Command(t *testing.T) {
	amf0 := cat(
		amfStr("connect"), amfNum(1),
		[]byte{0x03}, // AMF0 object
		amfKey("app"), amfStr("live"),
		amfKey("objectEncoding"), amfNum(3),
		[]byte{0x00, 0x00, 0x09},
	)
	amf3 := cat(
		[]byte{0x00},                 // format byte
		amfStr("connect"), amfNum(1), // AMF0 name and transaction id
		[]byte{0x11, 0x0A, 0x0B, 0x01},                                  // AVM+, AMF3 object, dynamic, anonymous
		[]byte{0x07}, []byte("app"), []byte{0x06, 0x09}, []byte("live"), // app: "live"
		[]byte{0x1D}, []byte("objectEncoding"), []byte{0x04, 0x03}, // objectEncoding: integer 3
		[]byte{0x01}, // end of dynamic members
	)
	m0, err := message.Decode(chunkOf(message.TypeCommandAMF0, amf0))
	if err != nil {
		t.Fatal(err)
	}
	m3, err := message.Decode(chunkOf(message.TypeCommandAMF3, amf3))
	if err != nil {
		t.Fatal(err)
	}
	c0, c3 := m0.(*message.Command), m3.(*message.Command)
	if c0.AMF3 || !c3.AMF3 || c3.Type() != message.TypeCommandAMF3 {
		t.Fatalf("AMF3 flags: type 20 %v, type 17 %v", c0.AMF3, c3.AMF3)
	}
	c3.AMF3 = false
	if ok, diff := equivalent(c0, c3); !ok {
		t.Fatalf("type 17 decoded to %#v\ntype 20 decoded to %#v\n(%s)", c3, c0, diff)
	}
	app, _ := amf.Lookup(c3.Object, "app")
	enc, _ := amf.Lookup(c3.Object, "objectEncoding")
	if s, _ := amf.String(app); s != "live" {
		t.Fatalf("app = %#v", app)
	}
	if n, ok := amf.Number(enc); !ok || n != 3 {
		t.Fatalf("objectEncoding = %#v", enc)
	}
}

// The command shapes of PROTOCOL.md section 7.1, byte for byte.
func TestCommandShapes(t *testing.T) {
	cases := []struct {
		name string
		msg  *message.Command
		want []byte
	}{
		{
			"onStatus",
			message.OnStatus(message.LevelError, message.CodePublishBadName, "Already publishing",
				amf.Property{Key: "details", Value: "s"}),
			cat(
				amfStr("onStatus"), amfNum(0), []byte{0x05}, // name, 0, null
				[]byte{0x03},
				amfKey("level"), amfStr("error"),
				amfKey("code"), amfStr("NetStream.Publish.BadName"),
				amfKey("description"), amfStr("Already publishing"),
				amfKey("details"), amfStr("s"),
				[]byte{0x00, 0x00, 0x09},
			),
		},
		{
			"createStream _result",
			message.CreateStreamResult(7, 1),
			cat(amfStr("_result"), amfNum(7), []byte{0x05}, amfNum(1)), // _result, txid, null, 1
		},
		{
			"connect _result",
			message.Result(1,
				amf.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}},
				message.StatusInfo(message.LevelStatus, message.CodeConnectSuccess, "Connection succeeded.",
					amf.Property{Key: "objectEncoding", Value: 0.0})),
			cat(
				amfStr("_result"), amfNum(1),
				[]byte{0x03}, amfKey("fmsVer"), amfStr("FMS/3,0,1,123"), amfKey("capabilities"), amfNum(31), []byte{0, 0, 9},
				[]byte{0x03}, amfKey("level"), amfStr("status"), amfKey("code"), amfStr("NetConnection.Connect.Success"),
				amfKey("description"), amfStr("Connection succeeded."), amfKey("objectEncoding"), amfNum(0), []byte{0, 0, 9},
			),
		},
		{
			"_error",
			message.ErrorResult(3, nil, message.StatusInfo(message.LevelError, message.CodeConnectRejected, "no")),
			cat(
				amfStr("_error"), amfNum(3), []byte{0x05},
				[]byte{0x03}, amfKey("level"), amfStr("error"), amfKey("code"), amfStr("NetConnection.Connect.Rejected"),
				amfKey("description"), amfStr("no"), []byte{0, 0, 9},
			),
		},
		{
			"_checkbw _result",
			message.Result(9, nil, nil),
			cat(amfStr("_result"), amfNum(9), []byte{0x05}, []byte{0x05}), // _result, txid, null, null
		},
	}
	for _, c := range cases {
		got, err := c.msg.AppendPayload(nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got % x\nwant % x", c.name, got, c.want)
		}
	}
}
