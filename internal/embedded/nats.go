// Package embedded runs the cluster's dependencies inside the process, so
// that one command starts a whole working system: a NATS server for the
// media bus when no NATS URL is configured (and, with the cluster, etcd).
// Production deployments point the processes at real servers instead.
//
// The servers take no credentials and speak no TLS: anyone who reaches
// them can read and change what they hold. The programs' defaults put
// them on loopback addresses (127.0.0.1), so that only the machine's own
// programs reach them; internal/backend warns when they are configured on
// another address (docs/security.md).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is an embedded NATS server.
type NATS struct {
	srv *server.Server
	url string
}

// NATSOptions configures StartNATS.
type NATSOptions struct {
	// Addr is the client listen address, "host:port"; port 0 picks a free
	// port.
	Addr string
	// MaxPayload is the server's max payload in bytes; 0 keeps the NATS
	// default (1 MiB). The bus splits larger frames.
	MaxPayload int32
	// Logger receives the server's notices, warnings and errors; nil
	// discards them.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections;
	// 0 means 10 s.
	ReadyTimeout time.Duration
}

// StartNATS starts a NATS server in this process and returns once it
// accepts connections.
func StartNATS(opts NATSOptions) (*NATS, error) {
	host, portStr, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: address %q: %w", opts.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded nats: address %q: bad port", opts.Addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // 0 would mean the default 4222
	}
	if host == "" {
		host = "0.0.0.0"
	}
	// Fail with a clear message when the port is taken, before the
	// server logs its own fatal error.
	if port != server.RANDOM_PORT {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cannot listen on %s (is another edge running its embedded NATS there? join it with -nats-url nats://%s): %w",
				opts.Addr, net.JoinHostPort(connectHost(host), portStr), err)
		}
		ln.Close()
	}
	sopts := &server.Options{
		ServerName: "tributary-embedded",
		Host:       host,
		Port:       port,
		NoSigs:     true,
		MaxPayload: opts.MaxPayload,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	srv.Start()
	wait := opts.ReadyTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: server not ready for connections")
	}
	return &NATS{srv: srv, url: srv.ClientURL()}, nil
}

// connectHost returns the host clients dial for a listen host.
func connectHost(h string) string {
	switch h {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	}
	return h
}

// URL returns the URL clients connect to, e.g. "nats://127.0.0.1:4222".
func (n *NATS) URL() string { return n.url }

// Server returns the running server.
func (n *NATS) Server() *server.Server { return n.srv }

// Shutdown stops the server, closing its client connections, and waits
// for it to end or ctx to end.
func (n *NATS) Shutdown(ctx context.Context) error {
	n.srv.Shutdown()
	done := make(chan struct{})
	go func() {
		n.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// natsLogger passes the NATS server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
