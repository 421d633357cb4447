package bus_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// envelopeCases are NATS header blocks as they travel on the wire and the
// envelopes they hold. They drive ParseEnvelope, Envelope.WriteHeader and
// the FuzzFrame seeds.
var envelopeCases = []struct {
	name  string
	bytes string
	value bus.Envelope
}{
	{
		name: "frame",
		bytes: "NATS/1.0\r\n" + // header block version line
			"Tributary-Epoch: 7\r\n" + // ownership epoch
			"Tributary-Seq: 42\r\n" + // frame 42 of this publish
			"Tributary-Ingest-Time: 1767225600123456789\r\n" + // Unix ns
			"\r\n", // end of headers
		value: bus.Envelope{Epoch: 7, Seq: 42, IngestTime: 1767225600123456789},
	},
	{
		name: "traced frame",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 18446744073709551615\r\n" + // largest epoch
			"Tributary-Seq: 1\r\n" + // first frame
			"Tributary-Ingest-Time: 1\r\n" +
			"traceparent: " + tp + "\r\n" + // W3C trace context
			"\r\n",
		value: bus.Envelope{Epoch: 1<<64 - 1, Seq: 1, IngestTime: 1, TraceParent: tp},
	},
	{
		name: "first fragment",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 3\r\n" +
			"Tributary-Seq: 900\r\n" +
			"Tributary-Ingest-Time: 1767225600000000000\r\n" +
			"Tributary-Frag: 0/3000000\r\n" + // offset 0 of a 3 MB tag
			"\r\n",
		value: bus.Envelope{Epoch: 3, Seq: 900, IngestTime: 1767225600000000000, FragOffset: 0, FragTotal: 3000000},
	},
	{
		name: "last fragment",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 3\r\n" +
			"Tributary-Seq: 900\r\n" +
			"Tributary-Frag: 2095104/3000000\r\n" + // third range of 1 MiB - 1 KiB
			"\r\n",
		value: bus.Envelope{Epoch: 3, Seq: 900, FragOffset: 2095104, FragTotal: 3000000},
	},
	{
		name: "end of stream",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 3\r\n" +
			"Tributary-Seq: 901\r\n" + // the end takes the next number
			"Tributary-Event: end\r\n" +
			"\r\n",
		value: bus.Envelope{Epoch: 3, Seq: 901, Event: bus.EventEnd},
	},
	{
		name: "unknown event",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 3\r\n" +
			"Tributary-Seq: 902\r\n" +
			"Tributary-Event: x-future\r\n" + // ignored by receivers
			"\r\n",
		value: bus.Envelope{Epoch: 3, Seq: 902, Event: "x-future"},
	},
	{
		name: "init end",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 3\r\n" +
			"Tributary-Seq: 1400\r\n" + // the publisher had sent 1400 frames
			"Tributary-Init-End: 27\r\n" + // the reply held 27 frames
			"\r\n",
		value: bus.Envelope{Epoch: 3, Seq: 1400, InitEnd: true, InitFrames: 27},
	},
	{
		name: "empty init reply",
		bytes: "NATS/1.0\r\n" +
			"Tributary-Epoch: 12\r\n" +
			"Tributary-Init-End: 0\r\n" +
			"\r\n",
		value: bus.Envelope{Epoch: 12, InitEnd: true},
	},
}

// badEnvelopes are header blocks NATS accepts but ParseEnvelope rejects.
var badEnvelopes = []struct {
	name  string
	bytes string
}{
	{"no epoch", "NATS/1.0\r\nTributary-Seq: 1\r\n\r\n"},
	{"epoch 0", "NATS/1.0\r\nTributary-Epoch: 0\r\nTributary-Seq: 1\r\n\r\n"},
	{"no seq", "NATS/1.0\r\nTributary-Epoch: 1\r\n\r\n"},
	{"seq 0", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 0\r\n\r\n"},
	{"leading zero", "NATS/1.0\r\nTributary-Epoch: 01\r\nTributary-Seq: 1\r\n\r\n"},
	{"sign", "NATS/1.0\r\nTributary-Epoch: +1\r\nTributary-Seq: 1\r\n\r\n"},
	{"epoch overflow", "NATS/1.0\r\nTributary-Epoch: 18446744073709551616\r\nTributary-Seq: 1\r\n\r\n"},
	{"ingest overflow", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Ingest-Time: 9223372036854775808\r\n\r\n"},
	{"negative ingest", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Ingest-Time: -5\r\n\r\n"},
	{"repeated seq", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Seq: 2\r\n\r\n"},
	{"frag without slash", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Frag: 10\r\n\r\n"},
	{"frag offset at total", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Frag: 10/10\r\n\r\n"},
	{"frag total above FLV", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Frag: 0/16777231\r\n\r\n"},
	{"event on fragment", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\nTributary-Frag: 0/10\r\nTributary-Event: end\r\n\r\n"},
	{"init end with event", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Init-End: 0\r\nTributary-Event: end\r\n\r\n"},
	{"traceparent upper case", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\ntraceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01\r\n\r\n"},
	{"traceparent zero trace id", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\ntraceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n\r\n"},
	{"traceparent version ff", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\ntraceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"},
	{"traceparent v00 extra", "NATS/1.0\r\nTributary-Epoch: 1\r\nTributary-Seq: 1\r\ntraceparent: " + tp + "-x\r\n\r\n"},
}

func decodeHeader(t testing.TB, b string) nats.Header {
	t.Helper()
	h, err := nats.DecodeHeadersMsg([]byte(b))
	if err != nil {
		t.Fatalf("nats.DecodeHeadersMsg(%q): %v", b, err)
	}
	return h
}

func TestParseEnvelope(t *testing.T) {
	for _, c := range envelopeCases {
		t.Run(c.name, func(t *testing.T) {
			h := decodeHeader(t, c.bytes)
			got, err := bus.ParseEnvelope(h)
			if err != nil || got != c.value {
				t.Fatalf("ParseEnvelope = %+v, %v; want %+v", got, err, c.value)
			}
		})
	}
}

func TestEnvelopeWriteHeader(t *testing.T) {
	for _, c := range envelopeCases {
		t.Run(c.name, func(t *testing.T) {
			h := nats.Header{"X-Other": {"kept"}, bus.HeaderFrag: {"stale"}}
			c.value.WriteHeader(h)
			want := decodeHeader(t, c.bytes)
			want["X-Other"] = []string{"kept"}
			if !maps.EqualFunc(h, want, slices.Equal) {
				t.Fatalf("WriteHeader gave %v, want %v", h, want)
			}
			got, err := bus.ParseEnvelope(h)
			if err != nil || got != c.value {
				t.Fatalf("ParseEnvelope(WriteHeader(v)) = %+v, %v", got, err)
			}
		})
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	for _, c := range badEnvelopes {
		t.Run(c.name, func(t *testing.T) {
			h := decodeHeader(t, c.bytes)
			if got, err := bus.ParseEnvelope(h); err == nil {
				t.Fatalf("ParseEnvelope = %+v, want an error", got)
			}
		})
	}
}
