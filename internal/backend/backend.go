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
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

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
// none are configured, and says so in the log. On error, whatever it
// started is stopped.
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
		eps := strings.Join(endpoints, ",")
		log.Info("started an embedded etcd server because no -etcd-endpoints was given; other processes can join it",
			"etcd_endpoints", eps, "data_dir", dir, "join_with", "-etcd-endpoints "+eps)
	}
	if b.NATS, err = connectNATS(natsURL, opts.Name, log); err != nil {
		return nil, err
	}
	b.Etcd, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
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

// connectNATS connects to the bus, retrying in the background when the
// servers are not reachable yet (readiness stays false until then).
func connectNATS(url, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := append(bus.ReconnectOptions(),
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
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
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if !nc.IsConnected() {
		log.Warn("bus not reachable yet, retrying in the background", "nats_url", url)
	}
	return nc, nil
}
