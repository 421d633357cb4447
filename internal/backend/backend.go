// Package backend gives a Tributary process its NATS and etcd connections:
// to the servers it is configured with, or to servers it starts in-process
// (internal/embedded) when none are configured, so that one command runs a
// whole working system. The edge and the controller programs share it.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/embedded"
	"github.com/tributary-media/tributary/pkg/bus"
)

// Options says which servers to use.
type Options struct {
	// Name names the NATS connection ("tributary-edge edge-a").
	Name string
	// NATSURLs are the NATS servers; none means an embedded NATS server
	// on EmbeddedNATSAddr.
	NATSURLs         []string
	EmbeddedNATSAddr string
	// EtcdEndpoints are the etcd servers; none means an embedded etcd
	// server on EmbeddedEtcdAddr, keeping its data in EmbeddedEtcdDir
	// ("" = embedded.DefaultEtcdDir).
	EtcdEndpoints    []string
	EmbeddedEtcdAddr string
	EmbeddedEtcdDir  string
	// NATSSecurity is how to authenticate to the NATSURLs servers and
	// secure the connection; EtcdSecurity the same for EtcdEndpoints.
	// The embedded servers take neither: they listen on loopback without
	// authentication (docs/security.md).
	NATSSecurity config.NATSSecurity
	EtcdSecurity config.EtcdSecurity
	// Logger receives the connection events; nil discards them.
	Logger *slog.Logger
}

// Backends are a process's NATS and etcd clients, and the servers it runs
// for them when it runs any.
type Backends struct {
	// NATS is the bus connection: it reconnects forever
	// (bus.ReconnectOptions) and, when the servers are not reachable at
	// start, keeps trying in the background.
	NATS *nats.Conn
	// Etcd is the cluster state client.
	Etcd *clientv3.Client
	// EmbeddedEtcd reports whether this process runs the etcd server.
	EmbeddedEtcd bool

	log        *slog.Logger
	natsServer *embedded.NATS
	etcdServer *embedded.Etcd
}

// Start connects to the configured servers, starting embedded ones where
// none are configured, and says so in the log, with how each connection is
// authenticated and secured (never a secret). On error, whatever it
// started is stopped.
//
// Credentials the NATS servers refuse and certificates that do not verify
// make Start fail with an error that says so; servers that cannot be
// reached yet do not: the NATS connection keeps trying in the background.
// With an etcd user, etcd must answer within 5 s (the client signs in at
// once).
func Start(opts Options) (_ *Backends, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backends{log: log}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()

	natsURL := strings.Join(opts.NATSURLs, ",")
	if natsURL == "" {
		b.natsServer, err = embedded.StartNATS(embedded.NATSOptions{Addr: opts.EmbeddedNATSAddr, Logger: log})
		if err != nil {
			return nil, err
		}
		natsURL = b.natsServer.URL()
		warnIfExposed(log, "NATS", opts.EmbeddedNATSAddr)
		log.Info("started an embedded NATS server because no -nats-url was given; other processes can join it",
			"nats_url", natsURL, "join_with", "-nats-url "+natsURL)
	}
	endpoints := opts.EtcdEndpoints
	if len(endpoints) == 0 {
		dir := opts.EmbeddedEtcdDir
		if dir == "" {
			dir = embedded.DefaultEtcdDir(opts.EmbeddedEtcdAddr)
		}
		b.etcdServer, err = embedded.StartEtcd(embedded.EtcdOptions{Addr: opts.EmbeddedEtcdAddr, DataDir: dir, Logger: log})
		if err != nil {
			return nil, err
		}
		b.EmbeddedEtcd = true
		endpoints = b.etcdServer.Endpoints()
		warnIfExposed(log, "etcd", opts.EmbeddedEtcdAddr)
		eps := strings.Join(endpoints, ",")
		log.Info("started an embedded etcd server because no -etcd-endpoints was given; other processes can join it",
			"etcd_endpoints", eps, "data_dir", dir, "join_with", "-etcd-endpoints "+eps)
	}
	if b.NATS, err = connectNATS(natsURL, opts.Name, opts.NATSSecurity, log); err != nil {
		return nil, err
	}
	if b.Etcd, err = connectEtcd(endpoints, opts.EtcdSecurity, log); err != nil {
		return nil, err
	}
	return b, nil
}

// DrainBus drains the NATS connection (pending messages are sent,
// subscriptions end) and waits up to timeout for it to close.
func (b *Backends) DrainBus(timeout time.Duration) {
	if err := b.NATS.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.log.Warn("bus drain", "err", err)
	}
	deadline := time.Now().Add(timeout)
	for !b.NATS.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// Close closes the clients and stops the embedded servers, etcd first.
func (b *Backends) Close() {
	if b.Etcd != nil {
		b.Etcd.Close()
	}
	if b.NATS != nil {
		b.NATS.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if b.etcdServer != nil {
		b.etcdServer.Close(ctx)
	}
	if b.natsServer != nil {
		b.natsServer.Shutdown(ctx)
	}
}

// etcdDialTimeout bounds the etcd client's first connection when it signs
// in with a user name, and the TLS check of the endpoints.
const etcdDialTimeout = 5 * time.Second

// connectEtcd returns a client of the etcd servers at endpoints, secured
// and authenticated as sec says. With TLS it first checks each endpoint's
// TLS, so that a certificate problem is an error that says so rather than
// a time-out at the first request.
func connectEtcd(endpoints []string, sec config.EtcdSecurity, log *slog.Logger) (*clientv3.Client, error) {
	tlsCfg, desc, err := etcdSecurity(endpoints, sec)
	if err != nil {
		return nil, err
	}
	log.Info("etcd connection", desc...)
	if tlsCfg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), etcdDialTimeout)
		err := probeEtcdTLS(ctx, endpoints, tlsCfg)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: etcdDialTimeout,
		TLS:         tlsCfg,
		Username:    sec.User,
		Password:    sec.Password.Value(),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		if sec.User != "" {
			return nil, fmt.Errorf("etcd: sign in as %q (password %s) at %s: %w", sec.User, sec.Password, strings.Join(endpoints, ","), err)
		}
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return cli, nil
}

// connectNATS connects to the bus, authenticated and secured as sec says.
// Credentials or certificates the servers refuse are an error; servers
// that cannot be reached yet are retried in the background (readiness
// stays false until then).
func connectNATS(url, name string, sec config.NATSSecurity, log *slog.Logger) (*nats.Conn, error) {
	secOpts, desc, err := natsSecurityOptions(sec)
	if err != nil {
		return nil, err
	}
	log.Info("NATS connection", desc...)
	var (
		mu               sync.Mutex
		lastReconnectErr string
	)
	opts := append(bus.ReconnectOptions(),
		nats.Name(name),
		// Credentials refused on a reconnect (rotated on the server
		// first) are retried like any failure, not given up on: the
		// files are read again at each attempt.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			// Each failed attempt reports; a new reason is logged once.
			mu.Lock()
			changed := err.Error() != lastReconnectErr
			lastReconnectErr = err.Error()
			mu.Unlock()
			if changed {
				log.Warn("bus reconnect failed, retrying", "err", err)
			}
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil && !c.IsClosed() && !c.IsDraining() {
				log.Warn("bus disconnected, reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("bus reconnected", "server", c.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("bus connected", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("bus error", "subject", subj, "err", err)
		}),
	)
	opts = append(opts, secOpts...)
	// A first attempt tells refused credentials from servers not up yet.
	nc, firstErr := nats.Connect(url, opts...)
	if firstErr == nil {
		return nc, nil
	}
	if isConfigError(firstErr) {
		return nil, fmt.Errorf("nats: connect to %s with %s: %w", redactURLs(url), describeNATSAuth(sec), firstErr)
	}
	nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if !nc.IsConnected() {
		log.Warn("bus not reachable yet, retrying in the background", "nats_url", redactURLs(url), "err", firstErr)
	}
	return nc, nil
}
