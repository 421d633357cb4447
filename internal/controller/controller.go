package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// Defaults of Config.
const (
	// DefaultLeaseTTL is the TTL of the election lease.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultReconnectGrace is how long a stream stays unclaimed before
	// its stopped event: the edges' default reconnect grace.
	DefaultReconnectGrace = 10 * time.Second
	// DefaultReapGrace is how long a claim may point to an edge that is
	// not registered before the reaper deletes it.
	DefaultReapGrace = 5 * time.Second
)

// Timing of the controller's own work.
const (
	// minRetry and maxRetry bound the wait before a failed election step
	// is tried again.
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
	// resignTimeout bounds the resignation when leadership ends.
	resignTimeout = 2 * time.Second
)

// Config configures a Controller. Zero values mean the documented defaults.
type Config struct {
	// Etcd is the client of the cluster's etcd; required.
	Etcd *clientv3.Client
	// NATS is the bus connection events are published on; required.
	NATS *nats.Conn
	// Prefix is the first segment of the cluster's etcd keys and the first
	// token of the bus subjects, the edges' prefix: [A-Za-z0-9_-]+. Empty
	// means cluster.DefaultPrefix.
	Prefix string
	// ID names this replica; required. It is the replica's value in the
	// leader election and the author of drain requests.
	ID string
	// LeaseTTL is the TTL of the election lease, rounded up to whole
	// seconds: a leader that dies without resigning keeps the leadership
	// for about this long. Zero means DefaultLeaseTTL; at least a second.
	LeaseTTL time.Duration
	// ReconnectGrace is how long a stream may stay unclaimed before the
	// leader publishes its stopped event; a claim made within it is
	// announced as taken-over. Zero means DefaultReconnectGrace.
	ReconnectGrace time.Duration
	// ReapGrace is how long a claim may point to an edge that is not
	// registered, or registered under another lease, before the leader
	// deletes it. Zero means DefaultReapGrace.
	ReapGrace time.Duration
	// Logger receives the controller's notices; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives the controller's Prometheus metrics
	// (tributary_controller_*, docs/observability.md); nil registers
	// none. New fails when the registerer already holds a controller's
	// metrics.
	Metrics prometheus.Registerer
	// TracerProvider receives the controller's spans: one per admin API
	// request, one per leadership term, one per reap
	// (docs/observability.md). Nil means no tracing.
	TracerProvider trace.TracerProvider
	// Now is the clock event times and drain requests are stamped with;
	// nil means time.Now.
	Now func() time.Time
}

// Controller is one controller replica. Create it with New and run it
// with Run; its API handler works with or without Run.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	leader  atomic.Bool
	running atomic.Bool
	met     *metrics // nil without Config.Metrics
	tr      trace.Tracer

	// nStreams and nEdges are the sizes of the leader's view of the
	// cluster, 0 while this replica does not lead.
	nStreams, nEdges atomic.Int64
}

// New checks cfg and returns a controller. It starts nothing.
func New(cfg Config) (*Controller, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("controller: Config.Etcd is required")
	}
	if cfg.NATS == nil {
		return nil, errors.New("controller: Config.NATS is required")
	}
	if cfg.ID == "" {
		return nil, errors.New("controller: Config.ID is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = cluster.DefaultPrefix
	}
	if err := cluster.CheckPrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if cfg.LeaseTTL < 0 || cfg.ReconnectGrace < 0 || cfg.ReapGrace < 0 {
		return nil, fmt.Errorf("controller: negative duration in Config (lease TTL %s, reconnect grace %s, reap grace %s)",
			cfg.LeaseTTL, cfg.ReconnectGrace, cfg.ReapGrace)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	cfg.LeaseTTL = time.Duration(math.Ceil(cfg.LeaseTTL.Seconds())) * time.Second
	if cfg.ReconnectGrace == 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.ReapGrace == 0 {
		cfg.ReapGrace = DefaultReapGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "controller"), tr: cfg.TracerProvider.Tracer(tracerName)}
	if cfg.Metrics != nil {
		m, err := newMetrics(c, cfg.Metrics)
		if err != nil {
			return nil, err
		}
		c.met = m
	}
	return c, nil
}

// ID returns the replica's id.
func (c *Controller) ID() string { return c.cfg.ID }

// IsLeader reports whether this replica leads now. It turns false at once
// when the leadership is lost.
func (c *Controller) IsLeader() bool { return c.leader.Load() }

// Leader returns the id of the current leader as etcd knows it (the value
// of the oldest key of the election). It reports false when no replica
// leads.
func (c *Controller) Leader(ctx context.Context) (string, bool, error) {
	resp, err := c.cfg.Etcd.Get(ctx, electionPrefix(c.cfg.Prefix)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", false, fmt.Errorf("controller: read the leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), true, nil
}

// Ready returns nil when the replica can serve: etcd answers and the bus
// connection is up.
func (c *Controller) Ready(ctx context.Context) error {
	if !c.cfg.NATS.IsConnected() {
		return fmt.Errorf("controller: bus: NATS connection %s", c.cfg.NATS.Status())
	}
	if _, err := c.cfg.Etcd.Get(ctx, electionPrefix(c.cfg.Prefix)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("controller: etcd: %w", err)
	}
	return nil
}

// Run takes part in the leader election until ctx ends, and does the
// leader's duties while this replica leads. It retries etcd failures on its
// own. When ctx ends it resigns the leadership, revokes its lease and
// returns nil. Run may be called only once.
func (c *Controller) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("controller: Run called twice")
	}
	c.log.Info("joining the leader election", "id", c.cfg.ID, "prefix", c.cfg.Prefix, "lease_ttl", c.cfg.LeaseTTL)
	var retry backoff
	for ctx.Err() == nil {
		start := time.Now()
		err := c.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			c.log.Warn("leader election interrupted; trying again", "err", err)
		}
		if time.Since(start) > 2*maxRetry {
			retry.reset()
		}
		retry.wait(ctx)
	}
	c.log.Info("left the leader election")
	return nil
}

// runSession holds one election lease and campaigns with it until ctx ends
// or the lease is lost.
func (c *Controller) runSession(ctx context.Context) error {
	cli := c.cfg.Etcd
	ttl := int64(c.cfg.LeaseTTL / time.Second)
	gctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL)
	grant, err := cli.Grant(gctx, ttl)
	cancel()
	if err != nil {
		return fmt.Errorf("controller: grant the election lease: %w", err)
	}
	// The session's keep-alive must outlive ctx, so that the resignation
	// and the revocation below can still be made when ctx ends.
	sctx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSession()
	sess, err := concurrency.NewSession(cli, concurrency.WithLease(grant.ID), concurrency.WithTTL(int(ttl)), concurrency.WithContext(sctx))
	if err != nil {
		rctx, cancel := context.WithTimeout(sctx, resignTimeout)
		cli.Revoke(rctx, grant.ID)
		cancel()
		return fmt.Errorf("controller: election session: %w", err)
	}
	defer func() {
		// Revoking the lease removes our election key at once.
		if err := sess.Close(); err != nil {
			c.log.Debug("election lease not revoked; it expires by itself", "err", err)
		}
	}()

	var retry backoff
	for {
		err := c.campaignAndLead(ctx, sess)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-sess.Done():
			return errors.New("controller: election lease lost")
		default:
		}
		if err != nil {
			c.log.Warn("leadership interrupted; campaigning again", "err", err)
			retry.wait(ctx)
		} else {
			retry.reset()
		}
	}
}

// campaignAndLead waits to be elected, then does the leader's duties until
// the leadership is lost or ctx ends, and resigns.
func (c *Controller) campaignAndLead(ctx context.Context, sess *concurrency.Session) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sess.Ctx(), cancel)
	defer stop()

	el := concurrency.NewElection(sess, electionPrefix(c.cfg.Prefix))
	if err := el.Campaign(cctx, c.cfg.ID); err != nil {
		if cctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("controller: campaign: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resignTimeout)
		defer cancel()
		if err := el.Resign(rctx); err != nil {
			c.log.Debug("resign", "err", err)
		}
	}()

	lctx, lose := context.WithCancel(cctx)
	defer lose()
	term := c.startTerm(el.Key(), el.Rev())
	lctx = trace.ContextWithSpan(lctx, term)
	// Leadership ends at once, before the duties have wound down.
	c.leader.Store(true)
	unmark := context.AfterFunc(lctx, func() { c.leader.Store(false) })
	defer func() {
		unmark()
		c.leader.Store(false)
	}()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		c.watchLeadership(lctx, el.Key(), el.Rev(), lose)
	}()
	defer func() {
		lose()
		<-watching
	}()

	c.log.Info("became the leader", "key", el.Key(), "revision", el.Rev())
	err := c.lead(lctx, el, func() bool { return ctx.Err() != nil })
	switch {
	case ctx.Err() != nil:
		c.log.Info("resigning the leadership: shutting down")
		endTerm(term, "resigned", "shutting down")
		return nil
	case cctx.Err() != nil:
		c.log.Warn("leadership lost: the election lease ended")
		endTerm(term, "lost", "the election lease ended")
		return nil
	case lctx.Err() != nil:
		c.log.Warn("leadership lost: the election key disappeared")
		endTerm(term, "lost", "the election key disappeared")
		return nil
	}
	switch {
	case errors.Is(err, errNotLeader):
		endTerm(term, "lost", err.Error())
	case err != nil:
		endTerm(term, "resigned", err.Error())
	default:
		endTerm(term, "resigned", "the leader's duties ended")
	}
	return err
}

// watchLeadership calls lose when the election key of this replica, key,
// created at revision rev, is deleted or replaced, and returns when ctx
// ends.
func (c *Controller) watchLeadership(ctx context.Context, key string, rev int64, lose func()) {
	cli := c.cfg.Etcd
	next := rev + 1
	var retry backoff
	for ctx.Err() == nil {
		if next == 0 {
			resp, err := cli.Get(ctx, key)
			if err != nil {
				retry.wait(ctx)
				continue
			}
			if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev {
				lose()
				return
			}
			next = resp.Header.Revision + 1
		}
		wch := cli.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(next))
		for wr := range wch {
			if wr.CompactRevision != 0 || wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || ev.Kv.CreateRevision != rev {
					lose()
					return
				}
				next = ev.Kv.ModRevision + 1
			}
		}
		// The watch broke: read the key before watching again.
		next = 0
		retry.wait(ctx)
	}
}

// publishEvent publishes one lifecycle event on the bus.
func (c *Controller) publishEvent(ev Event) error {
	data, err := ev.marshal()
	if err != nil {
		return err
	}
	msg := &nats.Msg{
		Subject: bus.EventSubject(c.cfg.Prefix, ev.Type),
		Header:  nats.Header{},
		Data:    data,
	}
	// JetStream streams that capture events drop a republished duplicate.
	msg.Header.Set(nats.MsgIdHdr, ev.id(c.cfg.Prefix))
	if err := c.cfg.NATS.PublishMsg(msg); err != nil {
		return fmt.Errorf("controller: publish %s event of %q/%q: %w", ev.Type, ev.App, ev.Name, err)
	}
	c.met.eventPublished(ev.Type)
	return nil
}

// backoff is a doubling wait between retries.
type backoff struct{ d time.Duration }

// wait sleeps for the next delay or until ctx ends.
func (b *backoff) wait(ctx context.Context) {
	b.d = min(max(2*b.d, minRetry), maxRetry)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// reset makes the next wait the shortest.
func (b *backoff) reset() { b.d = 0 }
