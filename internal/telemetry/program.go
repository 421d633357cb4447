package telemetry

import (
	"context"
	"log/slog"
	"time"
)

// Setup sets up the logger and the tracing of a Tributary program. It
// returns log with trace ids (WithTraceIDs: records logged with a context
// inside a span carry its trace_id and span_id) and the attribute
// program=cfg.InstanceID (edge=edge-a), and the tracing NewTracing makes
// of cfg, logging with that logger whatever cfg.Logger is.
func Setup(log *slog.Logger, program string, cfg TracingConfig) (*slog.Logger, *Tracing, error) {
	log = WithTraceIDs(log).With(program, cfg.InstanceID)
	cfg.Logger = log
	tracing, err := NewTracing(cfg)
	if err != nil {
		return nil, nil, err
	}
	return log, tracing, nil
}

// FlushTimeout bounds the export of the spans left at shutdown in Flush.
const FlushTimeout = 5 * time.Second

// Flush exports the spans not exported yet, within FlushTimeout, and
// stops tracing (Shutdown); when spans are left then, it says so on log.
// A program calls it once everything else has stopped, so that the spans
// of its shutdown are exported too.
func (t *Tracing) Flush(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("traces not all exported at shutdown", "timeout", FlushTimeout, "err", err)
	}
}
