// Bus-record records a stream from Tributary's media bus (NATS) into an FLV
// file.
//
// This example shows how to:
//
//  1. connect to NATS with the bus's reconnect options and receive one
//     stream with bus.Subscriber, which starts from the current GOP (fast
//     start) and then follows the live frames;
//  2. keep the subscriber's handler non-blocking: frames go through a
//     bounded queue to the goroutine that writes the file, and when the
//     queue is full the recorder drops frames up to the next keyframe;
//  3. write a playable FLV file: the file header, then the frame payloads,
//     which are FLV tags already; when the stream is published again (a
//     newer epoch) the timestamps of the new publish are shifted to follow
//     on from the last ones written;
//  4. stop at the end of the stream (the publisher's clean end), after a
//     duration of media, or on SIGINT, and still leave a complete file.
//
// Run it with
//
//	go run ./examples/bus-record -nats nats://127.0.0.1:4222 -app live -name test -o out.flv
//
// See README.md next to this file.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// queueLen is how many frames may wait between the subscriber's handler
// and the file writer.
const queueLen = 4096

// config is the command line.
type config struct {
	url, prefix, app, name string
	output                 string
	duration               time.Duration
	logLevel               slog.Level
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("recording failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bus-record", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "nats", nats.DefaultURL, "NATS server URL (comma-separated for a cluster)")
	fs.StringVar(&cfg.prefix, "prefix", bus.DefaultPrefix, "subject prefix of the bus")
	fs.StringVar(&cfg.app, "app", "", "RTMP application name of the stream (required)")
	fs.StringVar(&cfg.name, "name", "", "RTMP stream name (required; may be empty with -name '')")
	fs.StringVar(&cfg.output, "o", "out.flv", "FLV file to write; - writes to standard output")
	fs.DurationVar(&cfg.duration, "duration", 0, "stop once this much media (by timestamps) is recorded; 0 records until the stream ends")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["app"] || !set["name"] || cfg.output == "" {
		return cfg, errors.New("-app, -name and -o are required")
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	return cfg, nil
}

// run records until the stream ends, the duration is reached or ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	opts := append(bus.ReconnectOptions(),
		nats.Name("tributary bus-record"),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrl()) }),
	)
	nc, err := nats.Connect(cfg.url, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.url, err)
	}
	defer nc.Close()

	var out io.Writer = os.Stdout
	if cfg.output != "-" {
		f, err := os.Create(cfg.output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	rec := newRecorder(bw, log)

	queue := make(chan bus.Frame, queueLen)
	var q dropQueue
	sub, err := bus.NewSubscriber(nc, bus.SubscriberConfig{
		Prefix: cfg.prefix, App: cfg.app, Name: cfg.name,
		Logger: log,
		// The handler runs on the goroutine that delivers NATS messages:
		// it must never block, so it only queues.
		Handler: func(f bus.Frame) { q.offer(queue, f) },
	})
	if err != nil {
		return err
	}
	media, _ := sub.Subjects()
	if err := sub.Start(ctx); err != nil {
		return err
	}
	defer sub.Close()
	st := sub.Stats()
	log.Info("recording", "subject", media, "output", cfg.output, "init_frames", st.InitFrames)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("interrupted")
			break loop
		case f := <-queue:
			done, err := rec.add(f)
			if err != nil {
				runErr = err
				break loop
			}
			if done {
				log.Info("stream ended")
				break loop
			}
			if cfg.duration > 0 && rec.mediaDuration() >= cfg.duration {
				log.Info("duration reached", "duration", cfg.duration)
				break loop
			}
		}
	}
	if err := sub.Close(); err != nil {
		log.Warn("unsubscribe", "err", err)
	}
	if err := rec.finish(); err != nil && runErr == nil {
		runErr = err
	}
	if err := bw.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	st = sub.Stats()
	log.Info("recorded", "tags", rec.written, "skipped", rec.skipped, "queue_dropped", q.dropped,
		"lost", st.Lost, "gaps", st.Gaps, "stale", st.Stale, "publishes", st.Epochs+1)
	return runErr
}

// dropQueue puts frames into a bounded channel without blocking. When the
// channel is full it drops the frame and every following one up to the next
// video keyframe (or configuration frame), so the file never holds frames
// that cannot be decoded. It is used by the subscriber's handler only, whose
// calls never overlap.
type dropQueue struct {
	dropping bool
	dropped  int
}

func (q *dropQueue) offer(ch chan<- bus.Frame, f bus.Frame) {
	if q.dropping && f.Event == "" {
		t, err := f.ParseTag()
		if err != nil || !(flv.IsKeyframe(t.Type, t.Body) || flv.IsSequenceHeader(t.Type, t.Body)) {
			q.dropped++
			return
		}
	}
	select {
	case ch <- f:
		q.dropping = false
	default:
		q.dropping = true
		q.dropped++
	}
}

// recorder writes frames into an FLV file.
type recorder struct {
	w   *flv.Writer
	log *slog.Logger

	epoch       uint64
	shift       int64 // added to the timestamps of the current epoch
	first, last int64 // first and last timestamps written (after shift)
	any         bool
	// Until a video keyframe has been written, video frames and audio
	// frames other than sequence headers are skipped, once the stream has
	// shown it has video (a video sequence header).
	hasVideo, haveKey bool
	written, skipped  int
}

func newRecorder(w io.Writer, log *slog.Logger) *recorder {
	// Players treat the header's flags as hints; the bus carries both
	// kinds, so both are set.
	return &recorder{w: flv.NewWriter(w, flv.Header{Audio: true, Video: true}), log: log}
}

// add writes one frame; it reports true at the end of the stream.
func (r *recorder) add(f bus.Frame) (bool, error) {
	if f.Event == bus.EventEnd {
		return true, nil
	}
	if f.Event != "" {
		return false, nil
	}
	tag, err := f.ParseTag()
	if err != nil {
		return false, err
	}
	if f.Epoch != r.epoch {
		if r.any {
			// A new publish: its timestamps start again; continue from
			// the last one written.
			r.shift = r.last + 1 - int64(tag.Timestamp)
			r.log.Info("stream published again", "epoch", f.Epoch, "shift_ms", r.shift)
			r.haveKey = false
		}
		r.epoch = f.Epoch
	}
	if f.Lost > 0 {
		r.log.Warn("frames lost", "count", f.Lost, "before_seq", f.Seq)
		r.haveKey = false
	}
	config := flv.IsSequenceHeader(tag.Type, tag.Body) || tag.Type == flv.TagScript
	if tag.Type == flv.TagVideo && flv.IsSequenceHeader(tag.Type, tag.Body) {
		r.hasVideo = true
	}
	if tag.Type == flv.TagVideo && flv.IsKeyframe(tag.Type, tag.Body) {
		r.haveKey = true
	}
	if r.hasVideo && !r.haveKey && !config {
		r.skipped++
		return false, nil
	}
	ts := max(int64(tag.Timestamp)+r.shift, 0)
	tag.Timestamp = uint32(ts)
	if err := r.w.WriteTag(&tag); err != nil {
		return false, err
	}
	if !r.any {
		r.first, r.any = ts, true
	}
	r.last = max(r.last, ts)
	r.written++
	return false, nil
}

// mediaDuration is the span of timestamps written so far.
func (r *recorder) mediaDuration() time.Duration {
	if !r.any {
		return 0
	}
	return time.Duration(r.last-r.first) * time.Millisecond
}

// finish writes the file header if no tag was written, so the file is
// always a valid FLV file.
func (r *recorder) finish() error {
	return r.w.WriteHeader()
}
