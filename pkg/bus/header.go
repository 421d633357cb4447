package bus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Header names of bus messages. They are part of the contract (docs/bus.md);
// NATS header names are case-sensitive.
const (
	// HeaderEpoch carries the ownership epoch of the publish, a decimal
	// uint64 greater than zero, on every bus message. Receivers drop
	// messages whose epoch is older than the newest they have seen.
	HeaderEpoch = "Tributary-Epoch"
	// HeaderSeq carries the sequence number of a frame within one publish
	// (one epoch), a decimal uint64 starting at 1 and growing by one per
	// frame, so a jump means lost frames. All fragments of a frame share it.
	// The end-of-stream message takes the next number.
	HeaderSeq = "Tributary-Seq"
	// HeaderIngestTime carries the wall-clock time at which the frame was
	// received from the encoder, in nanoseconds since the Unix epoch
	// (decimal), for end-to-end latency.
	HeaderIngestTime = "Tributary-Ingest-Time"
	// HeaderTraceParent carries a W3C Trace Context traceparent when the
	// publish is traced.
	HeaderTraceParent = "traceparent"
	// HeaderFrag marks a fragment of a frame larger than the server's max
	// payload: "OFFSET/TOTAL", the fragment's byte offset in the FLV tag
	// and the tag's full size, both decimal. Unfragmented frames do not
	// carry it.
	HeaderFrag = "Tributary-Frag"
	// HeaderEvent marks a message that is not a frame. The value EventEnd
	// on the media subject ends the publish. Receivers ignore values they
	// do not know.
	HeaderEvent = "Tributary-Event"
	// HeaderInitEnd marks the last message of an init reply; its value is
	// the number of frames the reply held (decimal). That message carries
	// HeaderEpoch and, once the publish has sent a frame, HeaderSeq with
	// the last sequence number sent when the reply's snapshot was taken.
	HeaderInitEnd = "Tributary-Init-End"
)

// EventEnd is the HeaderEvent value of the message that ends a publish
// cleanly (FCUnpublish, deleteStream): players are told the stream stopped.
const EventEnd = "end"

// Limits of header values.
const (
	// maxTraceParent is the longest traceparent accepted (version 00 is
	// 55 bytes; later versions may append fields).
	maxTraceParent = 256
	// maxEventLen is the longest event value accepted.
	maxEventLen = 64
)

// Envelope is the metadata a bus message carries in its NATS headers: what
// a receiver needs to fence, order and reassemble frames. The zero value is
// not a valid envelope: every bus message has an epoch.
type Envelope struct {
	// Epoch is the ownership epoch of the publish (HeaderEpoch), > 0.
	Epoch uint64
	// Seq is the frame sequence number within the epoch (HeaderSeq). On
	// the last message of an init reply it is the last sequence number the
	// publisher had sent when it took the snapshot, 0 (absent) if none.
	Seq uint64
	// IngestTime is the ingest wall-clock time in Unix nanoseconds
	// (HeaderIngestTime); 0 when absent.
	IngestTime int64
	// TraceParent is the W3C traceparent (HeaderTraceParent) or "".
	TraceParent string
	// Event is the HeaderEvent value, "" for frames.
	Event string
	// FragOffset and FragTotal describe a fragment (HeaderFrag): its offset
	// in the tag and the tag's size. FragTotal is 0 for a whole frame.
	FragOffset, FragTotal int
	// InitEnd reports the last message of an init reply (HeaderInitEnd);
	// InitFrames is then the number of frames the reply held.
	InitEnd    bool
	InitFrames int
}

// parseUint parses a canonical decimal number: digits only, no sign, no
// leading zeros, at most max.
func parseUint(name, v string, max uint64) (uint64, error) {
	if v == "" || len(v) > 20 || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("bus: header %s: %q is not a canonical decimal number", name, v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("bus: header %s: %q is not a canonical decimal number", name, v)
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("bus: header %s: %q is out of range", name, v)
	}
	return n, nil
}

// single returns the only value of a header, "" when absent, or an error
// when the header is repeated.
func single(h nats.Header, name string) (string, bool, error) {
	vs, ok := h[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", false, fmt.Errorf("bus: header %s has %d values, want 1", name, len(vs))
	}
	return vs[0], true, nil
}

// ParseEnvelope reads the envelope of a bus message from its headers. It
// fails when the epoch is missing or zero, when a number is not canonical
// decimal or out of range, when a header is repeated, when a fragment header
// is inconsistent (offset not below total, total above the largest FLV tag),
// when a frame or end-of-stream message has no sequence number, or when the
// traceparent is not a W3C traceparent. Headers it does not know are ignored.
func ParseEnvelope(h nats.Header) (Envelope, error) {
	var e Envelope
	v, ok, err := single(h, HeaderEpoch)
	if err != nil {
		return e, err
	}
	if !ok {
		return e, fmt.Errorf("bus: no %s header", HeaderEpoch)
	}
	if e.Epoch, err = parseUint(HeaderEpoch, v, 1<<64-1); err != nil {
		return e, err
	}
	if e.Epoch == 0 {
		return e, fmt.Errorf("bus: header %s is 0", HeaderEpoch)
	}
	if v, ok, err = single(h, HeaderSeq); err != nil {
		return e, err
	} else if ok {
		if e.Seq, err = parseUint(HeaderSeq, v, 1<<64-1); err != nil {
			return e, err
		}
		if e.Seq == 0 {
			return e, fmt.Errorf("bus: header %s is 0", HeaderSeq)
		}
	}
	if v, ok, err = single(h, HeaderIngestTime); err != nil {
		return e, err
	} else if ok {
		n, err := parseUint(HeaderIngestTime, v, 1<<63-1)
		if err != nil {
			return e, err
		}
		e.IngestTime = int64(n)
	}
	if v, ok, err = single(h, HeaderTraceParent); err != nil {
		return e, err
	} else if ok {
		if err := checkTraceParent(v); err != nil {
			return e, err
		}
		e.TraceParent = v
	}
	if v, ok, err = single(h, HeaderEvent); err != nil {
		return e, err
	} else if ok {
		if err := checkEvent(v); err != nil {
			return e, err
		}
		e.Event = v
	}
	if v, ok, err = single(h, HeaderFrag); err != nil {
		return e, err
	} else if ok {
		off, total, found := strings.Cut(v, "/")
		if !found {
			return e, fmt.Errorf("bus: header %s: %q is not OFFSET/TOTAL", HeaderFrag, v)
		}
		o, err := parseUint(HeaderFrag, off, maxTagSize)
		if err != nil {
			return e, err
		}
		t, err := parseUint(HeaderFrag, total, maxTagSize)
		if err != nil {
			return e, err
		}
		if o >= t {
			return e, fmt.Errorf("bus: header %s: offset %d not below total %d", HeaderFrag, o, t)
		}
		e.FragOffset, e.FragTotal = int(o), int(t)
	}
	if v, ok, err = single(h, HeaderInitEnd); err != nil {
		return e, err
	} else if ok {
		n, err := parseUint(HeaderInitEnd, v, 1<<31-1)
		if err != nil {
			return e, err
		}
		e.InitEnd, e.InitFrames = true, int(n)
	}
	switch {
	case e.InitEnd && (e.Event != "" || e.FragTotal != 0):
		return e, fmt.Errorf("bus: %s together with %s or %s", HeaderInitEnd, HeaderEvent, HeaderFrag)
	case e.Event != "" && e.FragTotal != 0:
		return e, fmt.Errorf("bus: %s on a fragment", HeaderEvent)
	case !e.InitEnd && e.Seq == 0:
		return e, fmt.Errorf("bus: no %s header", HeaderSeq)
	}
	return e, nil
}

// WriteHeader stores the envelope in h, replacing the bus headers h held
// and leaving other headers alone. Zero and empty fields are left out. It
// allocates the header values; the Publisher uses its own
// allocation-free path that writes the same headers.
func (e *Envelope) WriteHeader(h nats.Header) {
	for _, k := range [...]string{HeaderEpoch, HeaderSeq, HeaderIngestTime, HeaderTraceParent, HeaderEvent, HeaderFrag, HeaderInitEnd} {
		delete(h, k)
	}
	h[HeaderEpoch] = []string{strconv.FormatUint(e.Epoch, 10)}
	if e.Seq != 0 {
		h[HeaderSeq] = []string{strconv.FormatUint(e.Seq, 10)}
	}
	if e.IngestTime != 0 {
		h[HeaderIngestTime] = []string{strconv.FormatInt(e.IngestTime, 10)}
	}
	if e.TraceParent != "" {
		h[HeaderTraceParent] = []string{e.TraceParent}
	}
	if e.Event != "" {
		h[HeaderEvent] = []string{e.Event}
	}
	if e.FragTotal != 0 {
		h[HeaderFrag] = []string{strconv.Itoa(e.FragOffset) + "/" + strconv.Itoa(e.FragTotal)}
	}
	if e.InitEnd {
		h[HeaderInitEnd] = []string{strconv.Itoa(e.InitFrames)}
	}
}

// checkEvent checks an event value: 1 to maxEventLen bytes of printable
// ASCII without spaces, so it survives the NATS header encoding unchanged.
func checkEvent(v string) error {
	if v == "" || len(v) > maxEventLen {
		return fmt.Errorf("bus: header %s: %d bytes, want 1..%d", HeaderEvent, len(v), maxEventLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("bus: header %s: %q has bytes outside printable ASCII", HeaderEvent, v)
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	return strings.Trim(s, "0") == ""
}

// checkTraceParent checks the W3C Trace Context traceparent format:
// "VERSION-TRACEID-PARENTID-FLAGS" with 2, 32, 16 and 2 lower-case hex
// digits, version ff invalid, all-zero ids invalid; version 00 has exactly
// these four fields, later versions may append "-..." fields.
func checkTraceParent(tp string) error {
	bad := func(why string) error {
		return fmt.Errorf("bus: traceparent %q: %s", tp, why)
	}
	if len(tp) < 55 || len(tp) > maxTraceParent {
		return bad("wrong length")
	}
	if tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return bad("not VERSION-TRACEID-PARENTID-FLAGS")
	}
	version, traceID, parentID, flags := tp[0:2], tp[3:35], tp[36:52], tp[53:55]
	if !isLowerHex(version) || !isLowerHex(traceID) || !isLowerHex(parentID) || !isLowerHex(flags) {
		return bad("not lower-case hex")
	}
	switch {
	case version == "ff":
		return bad("version ff")
	case allZero(traceID) || allZero(parentID):
		return bad("all-zero id")
	case version == "00" && len(tp) != 55:
		return bad("version 00 with extra fields")
	case len(tp) > 55 && tp[55] != '-':
		return bad("extra fields not separated by '-'")
	}
	for i := 55; i < len(tp); i++ {
		if c := tp[i]; c <= ' ' || c >= 0x7f {
			return bad("bytes outside printable ASCII")
		}
	}
	return nil
}
