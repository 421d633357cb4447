package edge

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// tracerName names the tracer of the edge's spans (sessions and cluster
// operations).
const tracerName = "github.com/tributary-media/tributary/internal/edge"

// Span names (docs/observability.md).
const (
	spanSession   = "rtmp.session"
	spanHandshake = "rtmp.handshake"
	spanConnect   = "rtmp.connect"
	spanPublish   = "rtmp.publish"
	spanPlay      = "rtmp.play"
	spanClaim     = "cluster.claim"
	spanTakeover  = "cluster.takeover"
	spanRelease   = "cluster.release"
	spanLeaseLost = "cluster.lease_lost"
)

// Attribute keys of the edge's spans.
const (
	keyClientAddress  = attribute.Key("client.address")
	keyClientPort     = attribute.Key("client.port")
	keyEdgeID         = attribute.Key("tributary.edge.id")
	keyApp            = attribute.Key("rtmp.app")
	keyTCURL          = attribute.Key("rtmp.tc_url")
	keyFlashVer       = attribute.Key("rtmp.flash_ver")
	keyHandshake      = attribute.Key("rtmp.handshake")
	keyEnhanced       = attribute.Key("rtmp.enhanced")
	keyCloseReason    = attribute.Key("rtmp.close_reason")
	keyBytesIn        = attribute.Key("rtmp.bytes_in")
	keyBytesOut       = attribute.Key("rtmp.bytes_out")
	keyStatusCode     = attribute.Key("rtmp.status_code")
	keyRTMPStream     = attribute.Key("rtmp.stream")
	keyPublishType    = attribute.Key("rtmp.publish_type")
	keyStream         = attribute.Key("tributary.stream")
	keyEpoch          = attribute.Key("tributary.epoch")
	keyRejectReason   = attribute.Key("tributary.reject_reason")
	keyEndReason      = attribute.Key("tributary.end_reason")
	keyClean          = attribute.Key("tributary.clean")
	keyFramesIn       = attribute.Key("tributary.frames_in")
	keyBytesInStream  = attribute.Key("tributary.bytes_in")
	keyBusErrors      = attribute.Key("tributary.bus_errors")
	keyInitServed     = attribute.Key("tributary.init_served")
	keyInitFrames     = attribute.Key("tributary.init.frames")
	keyInitBytes      = attribute.Key("tributary.init.bytes")
	keyTraceParent    = attribute.Key("tributary.subscriber.traceparent")
	keyVideoCodec     = attribute.Key("media.video.codec")
	keyAudioCodec     = attribute.Key("media.audio.codec")
	keyTTFF           = attribute.Key("tributary.ttff_ms")
	keyFramesSent     = attribute.Key("tributary.frames_sent")
	keyFramesDropped  = attribute.Key("tributary.frames_dropped")
	keyDrops          = attribute.Key("tributary.drops")
	keyLink           = attribute.Key("tributary.link")
	keyLostReason     = attribute.Key("tributary.claim.lost_reason")
	keyClaimResult    = attribute.Key("tributary.claim.result")
	keyOwnerEdge      = attribute.Key("tributary.owner.edge")
	keyOwnerEpoch     = attribute.Key("tributary.owner.epoch")
	keyTakeoverReason = attribute.Key("tributary.takeover.reason")
	keyTakeoverResult = attribute.Key("tributary.takeover.result")
	keyLease          = attribute.Key("tributary.lease")
	keyStreamsFenced  = attribute.Key("tributary.streams_fenced")
)

// Bounds of what a span records, so that a long session cannot grow its
// span without limit.
const (
	// maxInitEvents caps the bus.init_served events of a publish span;
	// tributary.init_served counts them all.
	maxInitEvents = 32
	// maxPlayLinks caps the links of a play span: one per publish (epoch)
	// the player saw.
	maxPlayLinks = 8
)

// epochAttr returns the tributary.epoch attribute. Epochs are uint64;
// attributes hold int64, and no epoch comes near 2^63 (etcd revisions, or
// Unix nanoseconds until 2262).
func epochAttr(key attribute.Key, epoch uint64) attribute.KeyValue {
	return key.Int64(int64(epoch))
}

// traceParent returns the W3C traceparent of the span in ctx, or "" when
// it has no valid span context.
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// parseTraceParent returns the remote span context a W3C traceparent
// names; it is invalid when tp is not a traceparent.
func parseTraceParent(tp string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}

// traceLogger returns log with the trace id of sc ("trace_id"), when sc
// is valid.
func traceLogger(log *slog.Logger, sc trace.SpanContext) *slog.Logger {
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String())
}

// spanLogger returns log with the span id of span ("span_id"), when its
// context is valid. log should carry the trace id already (traceLogger).
func spanLogger(log *slog.Logger, span trace.Span) *slog.Logger {
	sc := span.SpanContext()
	if !sc.IsValid() {
		return log
	}
	return log.With("span_id", sc.SpanID().String())
}

// clientAttrs returns the client.address and client.port attributes of
// c's peer.
func clientAttrs(c *rtmp.ServerConn) []attribute.KeyValue {
	a := c.RemoteAddr()
	if a == nil {
		return nil
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return []attribute.KeyValue{keyClientAddress.String(a.String())}
	}
	attrs := []attribute.KeyValue{keyClientAddress.String(host)}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, keyClientPort.Int(n))
	}
	return attrs
}

// safeTCURL returns tcUrl without what may hold a secret: its user
// information and query (stream keys, tokens).
func safeTCURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// codecName returns the name a span gives a codec: "avc" for H.264, the
// FFmpeg name otherwise ("hevc", "av1", "aac", "opus", ...).
func codecName(c flv.Codec) string {
	if c == flv.CodecAVC {
		return "avc"
	}
	return c.String()
}

// pubTrace is the trace context of one publish as the bus carries it: the
// publish span on the publishing edge.
type pubTrace struct {
	epoch uint64
	sc    trace.SpanContext
}
