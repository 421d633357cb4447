// Publish streams an FLV file to an RTMP server in real time, as a live
// encoder would.
//
// This example shows how to:
//
//  1. dial an rtmp:// or rtmps:// URL with rtmp.Dial, connect and publish
//     with a ClientConn;
//  2. read an FLV file tag by tag with flv.Reader;
//  3. pace the tags by their timestamps, like ffmpeg -re, and loop the
//     file as one continuous stream: timestamps keep increasing, and the
//     end of sequence markers and the metadata are not repeated at each
//     turn;
//  4. send every tag body unchanged with WriteVideo, WriteAudio and
//     WriteData, so Enhanced RTMP tags (HEVC, AV1, VP9, Opus, multitrack)
//     pass through as they are in the file;
//  5. end the publish politely (FCUnpublish, deleteStream) at the end of
//     the file or on SIGINT, and notice a server that ends it first.
//
// Run it with
//
//	go run ./examples/publish -i in.flv -url rtmp://127.0.0.1/live/test
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

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// config is the command line.
type config struct {
	input, url string
	loop       bool
	simple     bool
	logLevel   slog.Level
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
		log.Error("publish failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.StringVar(&cfg.input, "i", "", "FLV file to publish (required)")
	fs.StringVar(&cfg.url, "url", "", "RTMP URL to publish to, rtmp://host[:port]/app/stream (required)")
	fs.BoolVar(&cfg.loop, "loop", false, "start the file again at its end, until interrupted")
	fs.BoolVar(&cfg.simple, "simple-handshake", false, "use the plain handshake of the RTMP specification instead of the digest one")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.input == "" || cfg.url == "" {
		return cfg, errors.New("-i and -url are required")
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	return cfg, nil
}

// run publishes until the file ends (or forever with -loop) or ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// Check the file before connecting.
	f, err := os.Open(cfg.input)
	if err != nil {
		return err
	}
	f.Close()

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
	if err := c.Publish(ctx, ""); err != nil {
		return err
	}
	log.Info("publishing", "url", cfg.url, "file", cfg.input, "stream_id", c.StreamID())

	p := &pacer{ctx: ctx, done: c.Done()}
	var st stats
	for loop := 0; ; loop++ {
		err := publishFile(c, cfg.input, p, cfg.loop, loop, &st)
		if errors.Is(err, errStopped) {
			if cerr := c.Err(); cerr != nil && ctx.Err() == nil {
				return fmt.Errorf("the connection ended: %w", cerr)
			}
			break // interrupted
		}
		if err != nil {
			return err
		}
		if !cfg.loop {
			break
		}
		p.nextLoop()
		log.Info("looping", "loop", loop+1, "tags", st.tags)
	}
	log.Info("publish finished", "tags", st.tags, "video", st.video, "audio", st.audio, "data", st.data,
		"bytes", st.bytes, "media_duration", time.Duration(p.lastOut-p.firstOut)*time.Millisecond,
		"elapsed", time.Since(p.start).Round(time.Millisecond))
	return c.Close()
}

// stats counts what was sent.
type stats struct {
	tags, video, audio, data int
	bytes                    int64
}

// errStopped reports that the context or the connection ended the
// publish.
var errStopped = errors.New("publish: stopped")

// publishFile sends every tag of the FLV file at path, paced by p; pass
// counts the passes over the file. When looping it leaves out audio and
// video SequenceEnd tags (encoders write one at the end of a file; in the
// middle of a stream it would end the players' decoding) and, after the
// first pass, script tags: the stream goes on, so its metadata has not
// changed, and players and recorders (FFmpeg 5.1's FLV demuxer among
// them) do not expect it again.
func publishFile(c *rtmp.ClientConn, path string, p *pacer, looping bool, pass int, st *stats) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := flv.NewReader(bufio.NewReaderSize(f, 64<<10), flv.ReaderConfig{})
	if _, err := r.ReadHeader(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var t flv.Tag
	for {
		if err := r.ReadTag(&t); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if looping && (isSequenceEnd(t.Type, t.Body) || (pass > 0 && t.Type == flv.TagScript)) {
			continue
		}
		ts := p.out(t.Timestamp)
		if err := p.wait(ts); err != nil {
			return err
		}
		switch t.Type {
		case flv.TagVideo:
			err = c.WriteVideo(ts, t.Body)
			st.video++
		case flv.TagAudio:
			err = c.WriteAudio(ts, t.Body)
			st.audio++
		case flv.TagScript:
			err = c.WriteData(ts, t.Body)
			st.data++
		default:
			continue // not a tag RTMP carries
		}
		if err != nil {
			if c.Err() != nil {
				return errStopped
			}
			return err
		}
		st.tags++
		st.bytes += int64(len(t.Body))
	}
}

// isSequenceEnd reports whether an audio or video tag body is an end of
// sequence (legacy AVC packet type 2 or Enhanced RTMP SequenceEnd).
func isSequenceEnd(typ flv.TagType, body []byte) bool {
	switch typ {
	case flv.TagVideo:
		h, err := flv.ParseVideoHeader(body)
		return err == nil && !h.HasCommand && h.PacketType == flv.VideoPacketSequenceEnd
	case flv.TagAudio:
		h, err := flv.ParseAudioHeader(body)
		return err == nil && !h.Silence && h.PacketType == flv.AudioPacketSequenceEnd
	}
	return false
}

// pacer maps file timestamps to output timestamps (continuous across
// loops) and waits until the wall clock reaches each one, so tags leave at
// the rate they were recorded.
type pacer struct {
	ctx  context.Context
	done <-chan struct{} // closed when the connection ends

	started           bool
	start             time.Time
	firstOut, lastOut uint32 // output timestamps of the first and latest tag
	// loopFirst is the first file timestamp of the current pass; base is
	// the output timestamp it maps to.
	loopFirst, base uint32
	loopStarted     bool
	// maxDelta is the largest step between consecutive timestamps seen,
	// used as the gap between the end of a pass and the next one.
	maxDelta uint32
}

// out returns the output timestamp of a tag with file timestamp ts.
func (p *pacer) out(ts uint32) uint32 {
	if !p.loopStarted {
		p.loopStarted = true
		p.loopFirst = ts
		if !p.started {
			p.base = ts // the first pass keeps the file's timestamps
		}
	}
	o := p.base + (ts - p.loopFirst)
	if !p.started {
		p.started, p.start, p.firstOut, p.lastOut = true, time.Now(), o, o
	}
	if d := o - p.lastOut; int32(d) > 0 {
		if d < 1000 { // a gap is not a frame interval
			p.maxDelta = max(p.maxDelta, d)
		}
		p.lastOut = o
	}
	return o
}

// nextLoop prepares the next pass over the file: its first tag follows the
// latest one by one frame interval.
func (p *pacer) nextLoop() {
	gap := p.maxDelta
	if gap == 0 {
		gap = 40
	}
	p.base = p.lastOut + gap
	p.loopStarted = false
}

// wait blocks until the wall clock reaches output timestamp ts, or returns
// errStopped when the context or the connection ends first.
func (p *pacer) wait(ts uint32) error {
	due := p.start.Add(time.Duration(int32(ts-p.firstOut)) * time.Millisecond)
	d := time.Until(due)
	if d <= 0 {
		select {
		case <-p.ctx.Done():
			return errStopped
		case <-p.done:
			return errStopped
		default:
			return nil
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.ctx.Done():
		return errStopped
	case <-p.done:
		return errStopped
	}
}
