package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the attributes the log handler adds.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// NewLogHandler returns a handler that passes records to h, adding
// trace_id and span_id (lowercase hex) when the record's context holds a
// valid span context, that is when it is logged with a context inside a
// span (log.InfoContext(ctx, ...)). Records without one pass unchanged.
//
// The two attributes are at the top level of the record, also when the
// logger has groups (WithGroup). They are not added twice: a logger that
// already has a top-level trace_id (logger.With("trace_id", ...)), or a
// record that has one, is left as it is.
func NewLogHandler(h slog.Handler) slog.Handler {
	if th, ok := h.(*logHandler); ok {
		return th
	}
	return &logHandler{base: h, h: h}
}

// WithTraceIDs returns log with its handler wrapped by NewLogHandler.
func WithTraceIDs(log *slog.Logger) *slog.Logger {
	return slog.New(NewLogHandler(log.Handler()))
}

// logHandler is the handler of NewLogHandler.
type logHandler struct {
	// base is the handler before the first group; h is base with the
	// groups and attributes of ops applied.
	base, h slog.Handler
	ops     []logOp
	// hasIDs: a top-level trace_id was added with WithAttrs.
	hasIDs bool
}

// logOp is a WithGroup (group set) or WithAttrs applied after the first
// group.
type logOp struct {
	group string
	attrs []slog.Attr
}

// Enabled implements slog.Handler.
func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || l.hasIDs || hasTraceID(r) {
		return l.h.Handle(ctx, r)
	}
	ids := [2]slog.Attr{slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String())}
	if len(l.ops) == 0 {
		r = r.Clone()
		r.AddAttrs(ids[:]...)
		return l.h.Handle(ctx, r)
	}
	// Inside a group, the record's attributes would land in the group:
	// add the ids before the groups instead.
	h := l.base.WithAttrs(ids[:])
	for _, op := range l.ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
		} else {
			h = h.WithAttrs(op.attrs)
		}
	}
	return h.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return l
	}
	if len(l.ops) == 0 {
		h := l.base.WithAttrs(attrs)
		has := l.hasIDs
		for _, a := range attrs {
			has = has || a.Key == TraceIDKey
		}
		return &logHandler{base: h, h: h, hasIDs: has}
	}
	return &logHandler{base: l.base, h: l.h.WithAttrs(attrs), ops: appendOp(l.ops, logOp{attrs: attrs}), hasIDs: l.hasIDs}
}

// WithGroup implements slog.Handler.
func (l *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	return &logHandler{base: l.base, h: l.h.WithGroup(name), ops: appendOp(l.ops, logOp{group: name}), hasIDs: l.hasIDs}
}

// hasTraceID reports whether r has a trace_id attribute.
func hasTraceID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == TraceIDKey
		return !found
	})
	return found
}

// appendOp returns ops with op added, not sharing the array of ops.
func appendOp(ops []logOp, op logOp) []logOp {
	return append(ops[:len(ops):len(ops)], op)
}
