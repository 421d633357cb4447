// Server is a complete single-process RTMP server built on pkg/rtmp: any
// number of streams, publishers and players, with fast start for joining
// players and protection against slow ones.
//
// This example shows how to:
//
//  1. serve RTMP, and RTMPS with a certificate, with rtmp.Server and a
//     rtmp.Handler;
//  2. drive an rtmp.ServerConn pull-style: accept the connect, accept or
//     reject publish and play requests, read media;
//  3. refuse a second publisher of a live stream with
//     NetStream.Publish.BadName;
//  4. keep a GOP cache per stream (onMetaData, the latest sequence header
//     of every audio and video track, Enhanced RTMP included, and the
//     frames since the last keyframe) so that a joining player starts at
//     once on a keyframe;
//  5. fan media out to players through bounded per-player queues that
//     never slow the publisher down: a slow player drops to the next
//     keyframe, and one that stays behind is disconnected;
//  6. tell players when the publisher leaves
//     (NetStream.Play.UnpublishNotify) and feed them again when the stream
//     is published anew;
//  7. log with log/slog and shut down cleanly on SIGINT or SIGTERM.
//
// Run it with
//
//	go run ./examples/server -addr :1935
//
// then publish to rtmp://127.0.0.1/live/test and play the same URL; see
// README.md next to this file.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// config is the server's command line.
type config struct {
	addr, rtmpsAddr, cert, key string
	gopCacheBytes              byteSize
	playerQueueBytes           byteSize
	playerQueueMessages        int
	playerMaxLag               time.Duration
	audioHold                  time.Duration
	sendBuffer                 byteSize
	logLevel                   slog.Level
	logFormat                  string
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	cfg := config{
		gopCacheBytes:    fanout.DefaultGOPCacheBytes,
		playerQueueBytes: fanout.DefaultPlayerQueueBytes,
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", ":1935", "RTMP listen address")
	fs.StringVar(&cfg.rtmpsAddr, "rtmps-addr", "", "RTMPS listen address (e.g. :443); needs -cert and -key")
	fs.StringVar(&cfg.cert, "cert", "", "TLS certificate file (PEM) for RTMPS")
	fs.StringVar(&cfg.key, "key", "", "TLS private key file (PEM) for RTMPS")
	fs.Var(&cfg.gopCacheBytes, "gop-cache-bytes", "most bytes of frames cached per stream since its last keyframe (e.g. 16MiB)")
	fs.Var(&cfg.playerQueueBytes, "player-queue", "bytes of media a player may have queued before it drops to the next keyframe (e.g. 16MiB)")
	fs.IntVar(&cfg.playerQueueMessages, "player-queue-msgs", fanout.DefaultPlayerQueueMessages, "messages of media a player may have queued before it drops to the next keyframe")
	fs.DurationVar(&cfg.playerMaxLag, "player-max-lag", fanout.DefaultPlayerMaxLag, "disconnect a player that stays behind its queue for this long (negative: never)")
	fs.DurationVar(&cfg.audioHold, "audio-hold", fanout.DefaultAudioHold, "audio arriving within this long after a video frame leaves with the next video frame, in one socket write per player (0: every frame at once)")
	fs.Var(&cfg.sendBuffer, "sndbuf", "socket send buffer of each connection (0: the system's, which may grow to megabytes and hide a stuck player for that long)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("-log-format: %q is neither text nor json", cfg.logFormat)
	}
	if cfg.rtmpsAddr != "" && (cfg.cert == "" || cfg.key == "") {
		return cfg, errors.New("-rtmps-addr needs -cert and -key")
	}
	if cfg.playerQueueMessages <= 0 {
		return cfg, errors.New("-player-queue-msgs must be positive")
	}
	if cfg.gopCacheBytes <= 0 || cfg.playerQueueBytes <= 0 {
		return cfg, errors.New("-gop-cache-bytes and -player-queue must be positive")
	}
	return cfg, nil
}

func newLogger(cfg config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run serves until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	h := fanout.New(fanout.Config{
		GOPCacheBytes:       int(cfg.gopCacheBytes),
		PlayerQueueBytes:    int(cfg.playerQueueBytes),
		PlayerQueueMessages: cfg.playerQueueMessages,
		PlayerMaxLag:        cfg.playerMaxLag,
		AudioHold:           fanout.AudioHoldSetting(cfg.audioHold),
		Logger:              log,
	})
	a := &app{hub: h, log: log}
	newServer := func() *rtmp.Server {
		return &rtmp.Server{Handler: a.serve, Logger: log}
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		return err
	}
	listeners := []struct {
		ln     net.Listener
		scheme string
	}{{sendBufferListener{ln, int(cfg.sendBuffer)}, "rtmp"}}
	if cfg.rtmpsAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.cert, cfg.key)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load the RTMPS certificate: %w", err)
		}
		tln, err := lc.Listen(ctx, "tcp", cfg.rtmpsAddr)
		if err != nil {
			ln.Close()
			return err
		}
		tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		listeners = append(listeners, struct {
			ln     net.Listener
			scheme string
		}{tls.NewListener(sendBufferListener{tln, int(cfg.sendBuffer)}, tlsCfg), "rtmps"})
	}

	// Each listener has its own rtmp.Server; when one fails, the others
	// are shut down too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(listeners))
	var wg sync.WaitGroup
	for i, l := range listeners {
		log.Info("listening", "scheme", l.scheme, "addr", l.ln.Addr().String(),
			"gop_cache_bytes", int(cfg.gopCacheBytes), "player_queue_bytes", int(cfg.playerQueueBytes),
			"player_queue_msgs", cfg.playerQueueMessages, "player_max_lag", cfg.playerMaxLag)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = newServer().Serve(ctx, l.ln)
			cancel()
		}()
	}
	wg.Wait()
	log.Info("server stopped")
	return errors.Join(errs...)
}

// sendBufferListener sets the socket send buffer of accepted TCP
// connections when size is positive. A small buffer makes a player that
// stops reading block its writer soon, so that the lag limit applies;
// with the system's automatic sizing megabytes may be absorbed first.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.size > 0 {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(l.size)
		}
	}
	return c, err
}

// byteSize is a flag holding a number of bytes, written as an integer with
// an optional unit: 512, 64KiB, 16MiB, 1GiB (also K, M, G, KB, MB, GB,
// all binary multiples).
type byteSize int64

func (b *byteSize) String() string {
	switch n := int64(*b); {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(n, 10)
	}
}

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		shift  uint
	}{
		{"GiB", 30}, {"MiB", 20}, {"KiB", 10},
		{"GB", 30}, {"MB", 20}, {"KB", 10},
		{"G", 30}, {"M", 20}, {"K", 10},
	}
	num, shift := strings.TrimSpace(s), uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, shift = strings.TrimSpace(n), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("invalid size %q", s)
	}
	*b = byteSize(n << shift)
	return nil
}
