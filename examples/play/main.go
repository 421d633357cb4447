// Play records an RTMP stream into an FLV file.
//
// This example shows how to:
//
//  1. dial an rtmp:// or rtmps:// URL with rtmp.Dial, connect and play
//     with a ClientConn;
//  2. read the stream with ClientConn.ReadMessage and recognise its end
//     (NetStream.Play.Stop, NetStream.Play.UnpublishNotify, StreamEOF);
//  3. write a valid FLV file with flv.Writer: a header whose audio and
//     video flags match the tags that follow, then every audio, video and
//     data tag with its body and timestamp unchanged (Enhanced RTMP
//     included);
//  4. stop after a duration of media, when nothing arrives for a while, or
//     on SIGINT, and still leave a complete file.
//
// Run it with
//
//	go run ./examples/play -url rtmp://127.0.0.1/live/test -o out.flv
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
	"sync"
	"syscall"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// config is the command line.
type config struct {
	url, output string
	duration    time.Duration
	idle        time.Duration
	simple      bool
	logLevel    slog.Level
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
		log.Error("play failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", "", "RTMP URL to play, rtmp://host[:port]/app/stream (required)")
	fs.StringVar(&cfg.output, "o", "out.flv", "FLV file to write; - writes to standard output")
	fs.DurationVar(&cfg.duration, "duration", 0, "stop once this much media (by timestamps) is recorded; 0 records until the stream ends")
	fs.DurationVar(&cfg.idle, "idle-timeout", 10*time.Second, "give up when nothing arrives for this long (0: wait forever)")
	fs.BoolVar(&cfg.simple, "simple-handshake", false, "use the plain handshake of the RTMP specification instead of the digest one")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.url == "" || cfg.output == "" {
		return cfg, errors.New("-url and -o are required")
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	return cfg, nil
}

// errIdle ends a recording on which nothing arrived for the idle timeout.
var errIdle = errors.New("play: nothing received within the idle timeout")

// run records the stream until it ends, ctx ends, or the duration is
// reached.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	c, err := rtmp.Dial(ctx, cfg.url, rtmp.ClientConfig{
		Logger:    log,
		Handshake: handshake.ClientConfig{Simple: cfg.simple},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	if err := c.Play(ctx, ""); err != nil {
		return err
	}
	log.Info("playing", "url", cfg.url, "output", cfg.output)

	out, closeOut, err := openOutput(cfg.output)
	if err != nil {
		return err
	}
	rec := newRecorder(out)

	// ReadMessage has no deadline of its own: a watchdog closes the
	// connection when ctx ends or nothing arrives for the idle timeout,
	// which makes ReadMessage return.
	w := newWatchdog(ctx, cfg.idle, func() { c.Close() })
	defer w.stop()

	reason, readErr := "", error(nil)
loop:
	for {
		m, err := c.ReadMessage()
		if err != nil {
			if why := w.reason(); why != nil {
				if errors.Is(why, errIdle) {
					readErr = why
				}
				reason = why.Error()
			} else {
				readErr = err
			}
			break
		}
		w.kick()
		switch m.Kind {
		case rtmp.KindAudio, rtmp.KindVideo, rtmp.KindData:
			typ := flv.TagAudio
			switch m.Kind {
			case rtmp.KindVideo:
				typ = flv.TagVideo
			case rtmp.KindData:
				if m.Data.Name == message.DataRtmpSampleAccess {
					continue
				}
				typ = flv.TagScript
			}
			// A player that joins late gets the sequence headers with the
			// timestamps they were published with, before the frames: the
			// duration counts from the first frame.
			if cfg.duration > 0 && rec.frames > 0 && !flv.IsSequenceHeader(typ, m.Payload) &&
				typ != flv.TagScript && time.Duration(int32(m.Timestamp-rec.first))*time.Millisecond >= cfg.duration {
				reason = "duration reached"
				break loop
			}
			if err := rec.add(typ, m.Timestamp, m.Payload); err != nil {
				readErr = err
				break loop
			}
		case rtmp.KindStatus:
			st := m.Status
			log.Debug("status", "level", st.Level, "code", st.Code, "description", st.Description)
			switch {
			case st.Level == rtmp.LevelError:
				readErr = &rtmp.StatusError{Status: *st, Command: "play"}
				break loop
			case st.Code == rtmp.CodePlayStop, st.Code == rtmp.CodePlayUnpublishNotify, st.Code == "NetStream.Play.Complete":
				reason = st.Code
				break loop
			}
		case rtmp.KindStreamEOF:
			reason = "StreamEOF"
			break loop
		}
	}
	if err := rec.finish(); err != nil && readErr == nil {
		readErr = err
	}
	if err := closeOut(rec.flags()); err != nil && readErr == nil {
		readErr = err
	}
	log.Info("recording finished", "output", cfg.output, "reason", reason, "tags", rec.tags,
		"video", rec.video, "audio", rec.audio, "data", rec.data,
		"media_duration", time.Duration(rec.last-rec.first)*time.Millisecond)
	return readErr
}

// openOutput opens the output and returns a close function that, for a
// regular file, first rewrites the header's type flags with the ones the
// tags actually needed.
func openOutput(path string) (io.Writer, func(flags byte) error, error) {
	if path == "-" {
		bw := bufio.NewWriter(os.Stdout)
		return bw, func(byte) error { return bw.Flush() }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return bw, func(flags byte) error {
		err := bw.Flush()
		if err == nil && flags != 0 {
			_, err = f.WriteAt([]byte{flags}, flagsOffset)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// flagsOffset is the offset of the TypeFlags byte in an FLV file header:
// "FLV", version, flags.
const flagsOffset = 4

// Header TypeFlags bits.
const (
	flagAudio = 0x04
	flagVideo = 0x01
)

// Until the recorder knows which kinds of media the stream has, it holds
// the first tags back: until both audio and video have arrived, holdTags
// tags are held, or the held media spans holdSpan.
const (
	holdTags = 256
	holdSpan = 2 * time.Second
)

// recorder writes the FLV file. It holds the first tags back until it can
// tell whether the stream carries audio, video or both, so that the header
// written before them has the right flags even on a pipe.
type recorder struct {
	out      io.Writer
	w        *flv.Writer
	held     []flv.Tag
	heldFrom uint32

	hasAudio, hasVideo       bool
	tags, video, audio, data int
	// frames counts the audio and video tags other than sequence
	// headers; first and last are the lowest and highest of their
	// timestamps (in the order of arrival, which is the timestamp order
	// within a stream).
	frames      int
	first, last uint32
}

func newRecorder(out io.Writer) *recorder { return &recorder{out: out} }

// add records one tag; body is copied if it must be held.
func (r *recorder) add(typ flv.TagType, ts uint32, body []byte) error {
	switch typ {
	case flv.TagAudio:
		r.hasAudio = true
		r.audio++
	case flv.TagVideo:
		r.hasVideo = true
		r.video++
	default:
		r.data++
	}
	r.tags++
	if typ != flv.TagScript && !flv.IsSequenceHeader(typ, body) {
		switch {
		case r.frames == 0:
			r.first, r.last = ts, ts
		case int32(ts-r.last) > 0:
			r.last = ts
		case int32(ts-r.first) < 0:
			r.first = ts
		}
		r.frames++
	}
	t := flv.Tag{Type: typ, Timestamp: ts, Body: body}
	if r.w != nil {
		return r.w.WriteTag(&t)
	}
	if len(r.held) == 0 {
		r.heldFrom = ts
	}
	r.held = append(r.held, t.Clone())
	if (r.hasAudio && r.hasVideo) || len(r.held) >= holdTags ||
		time.Duration(int32(ts-r.heldFrom))*time.Millisecond >= holdSpan {
		return r.release()
	}
	return nil
}

// release writes the header and the held tags.
func (r *recorder) release() error {
	r.w = flv.NewWriter(r.out, flv.Header{Version: 1, Audio: r.hasAudio, Video: r.hasVideo})
	if err := r.w.WriteHeader(); err != nil {
		return err
	}
	for i := range r.held {
		if err := r.w.WriteTag(&r.held[i]); err != nil {
			return err
		}
	}
	r.held = nil
	return nil
}

// finish writes what is still held (a short or empty recording still gets
// a header).
func (r *recorder) finish() error {
	if r.w == nil {
		return r.release()
	}
	return nil
}

// flags returns the header TypeFlags the recorded tags need.
func (r *recorder) flags() byte {
	var f byte
	if r.hasAudio {
		f |= flagAudio
	}
	if r.hasVideo {
		f |= flagVideo
	}
	return f
}

// watchdog calls fire once when ctx ends or when kick has not been called
// for the idle timeout; reason tells which.
type watchdog struct {
	mu     sync.Mutex
	why    error
	timer  *time.Timer
	idle   time.Duration
	cancel func() bool
}

func newWatchdog(ctx context.Context, idle time.Duration, fire func()) *watchdog {
	w := &watchdog{idle: idle}
	trigger := func(why error) {
		w.mu.Lock()
		first := w.why == nil
		if first {
			w.why = why
		}
		w.mu.Unlock()
		if first {
			fire()
		}
	}
	w.cancel = context.AfterFunc(ctx, func() { trigger(context.Cause(ctx)) })
	if idle > 0 {
		w.timer = time.AfterFunc(idle, func() { trigger(errIdle) })
	}
	return w
}

func (w *watchdog) kick() {
	if w.timer != nil {
		w.timer.Reset(w.idle)
	}
}

func (w *watchdog) reason() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.why
}

func (w *watchdog) stop() {
	w.cancel()
	if w.timer != nil {
		w.timer.Stop()
	}
}
