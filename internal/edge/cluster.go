package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// Policy decides what happens to a publish of a stream that another
// publisher owns.
type Policy int

const (
	// PolicyReject refuses the new publisher with NetStream.Publish.BadName,
	// unless the owner is gone, silent for the reconnect grace or
	// draining: then the new publisher takes the stream over at once, so an
	// encoder that reconnects after a network drop is not locked out.
	PolicyReject Policy = iota
	// PolicyTakeover lets the newest publisher win: the old one is closed.
	PolicyTakeover
)

// DefaultRegistryInterval is how often an edge rewrites its registration
// with its current load.
const DefaultRegistryInterval = 5 * time.Second

// DefaultSilenceWindow is how long the reject policy watches the bus for a
// live owner's frames before it lets a new publisher take over. Encoders
// send tens of messages a second; a second without one means the owner's
// encoder is gone.
const DefaultSilenceWindow = time.Second

// ParsePolicy parses "reject" or "takeover".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "reject", "":
		return PolicyReject, nil
	case "takeover":
		return PolicyTakeover, nil
	}
	return 0, fmt.Errorf("edge: unknown publish policy %q (reject or takeover)", s)
}

// String returns the policy's name.
func (p Policy) String() string {
	if p == PolicyTakeover {
		return "takeover"
	}
	return "reject"
}

// ClusterConfig configures a Cluster.
type ClusterConfig struct {
	// Client is the etcd client; required. The Cluster does not close it.
	Client *clientv3.Client
	// Prefix is the key prefix; empty means cluster.DefaultPrefix.
	Prefix string
	// EdgeID is the edge's id in the registry; required.
	EdgeID string
	// Address is the edge's RTMP address as the registry shows it.
	Address string
	// Version is the software version the registry shows.
	Version string
	// TTL is the lease TTL; zero means cluster.DefaultTTL.
	TTL time.Duration
	// RegistryInterval is how often the edge rewrites its registration
	// with its current load (the rates it shows are averages over it);
	// zero means DefaultRegistryInterval.
	RegistryInterval time.Duration
	// Policy decides duplicate publishes.
	Policy Policy
	// ReconnectGrace is how long an owner may go without media before a
	// new publisher may take its stream over under PolicyReject; zero
	// means DefaultReconnectGrace.
	ReconnectGrace time.Duration
	// NATS and BusPrefix give access to the media bus, where the
	// reject policy looks for the owner's frames: an owner whose stream
	// carried no frame for SilenceWindow has lost its encoder, and a new
	// publisher (most likely that encoder, reconnected) may take over at
	// once. Without NATS only the owner's recorded activity counts.
	NATS      *nats.Conn
	BusPrefix string
	// SilenceWindow is how long the reject policy watches the bus for the
	// owner's frames; zero means DefaultSilenceWindow.
	SilenceWindow time.Duration
	// OnDrain is called (once) when an administrator asks this edge to
	// drain (the controller's drain request key).
	OnDrain func()
	// Logger receives the cluster's notices; nil discards them.
	Logger *slog.Logger
	// TracerProvider receives the spans of the cluster operations
	// (cluster.claim, cluster.takeover, cluster.release,
	// cluster.lease_lost); nil means no tracing.
	TracerProvider trace.TracerProvider
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cluster is the etcd-backed Ownership of an edge in a cluster: a lease
// (session) that carries the edge's registration and its stream claims,
// renewed while the edge lives and replaced when lost. Create it with
// NewCluster, call Run, give it to the Edge as its Ownership and call Attach
// with the Edge so that the registry shows its load; Close revokes the
// lease, releasing every claim at once.
type Cluster struct {
	cfg ClusterConfig
	log *slog.Logger
	tr  trace.Tracer

	sess     atomic.Pointer[cluster.Session]
	edge     atomic.Pointer[Edge]
	started  time.Time
	draining atomic.Bool
	drained  sync.Once

	// takeovers counts the streams this edge took over, leaseLosses the
	// leases it lost.
	takeovers, leaseLosses atomic.Uint64

	// lost is the session whose lease was lost and may still be alive in
	// etcd: after an etcd outage longer than the TTL, etcd restores every
	// lease with a fresh TTL, and the edge's registration under the old
	// lease would refuse the new one until it expires. Only Run uses it.
	lost *cluster.Session

	// held are the claims made and not released, or lost with their
	// lease, by session: what a lost lease fences.
	heldMu sync.Mutex
	held   map[*clusterClaim]struct{}
}

// NewCluster checks cfg and returns a Cluster. It starts nothing.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Client == nil || cfg.EdgeID == "" {
		return nil, errors.New("edge: ClusterConfig needs Client and EdgeID")
	}
	if err := cluster.CheckPrefix(cfg.Prefix); cfg.Prefix != "" && err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = cluster.DefaultPrefix
	}
	if cfg.ReconnectGrace <= 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.SilenceWindow <= 0 {
		cfg.SilenceWindow = DefaultSilenceWindow
	}
	if cfg.RegistryInterval <= 0 {
		cfg.RegistryInterval = DefaultRegistryInterval
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
	return &Cluster{cfg: cfg, log: cfg.Logger, started: cfg.Now(),
		tr: cfg.TracerProvider.Tracer(tracerName), held: make(map[*clusterClaim]struct{})}, nil
}

// Attach gives the Cluster the Edge whose load it registers.
func (c *Cluster) Attach(e *Edge) { c.edge.Store(e) }

// Ready returns nil while the edge holds a live lease.
func (c *Cluster) Ready() error {
	s := c.sess.Load()
	if s == nil {
		return errors.New("cluster: no lease yet")
	}
	select {
	case <-s.Done():
		return fmt.Errorf("cluster: lease lost: %v", s.Err())
	default:
	}
	return nil
}

// SetDraining marks the edge as draining in the registry, and returns once
// the registry says so (or ctx ends): from then on other edges let the
// encoders of this edge take their streams over at once, so call it before
// asking the encoders to reconnect elsewhere.
func (c *Cluster) SetDraining(ctx context.Context) error {
	c.draining.Store(true)
	s := c.sess.Load()
	if s == nil {
		return nil
	}
	return s.RegisterEdge(ctx, c.info())
}

// Run keeps the edge in the cluster until ctx ends: it takes a lease,
// registers the edge, keeps the lease alive and the registration current,
// watches for a drain request, and when the lease is lost (a partition
// longer than the TTL) it takes a new one. Claims made under a lost lease
// are lost with it. Run returns when ctx ends; the lease is then left as it
// is: call Close to revoke it.
func (c *Cluster) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("cluster session ended, taking a new lease", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

// runSession runs one lease until it is lost or ctx ends.
func (c *Cluster) runSession(ctx context.Context) error {
	s, err := cluster.NewSession(ctx, cluster.Config{
		Client: c.cfg.Client, Prefix: c.cfg.Prefix, EdgeID: c.cfg.EdgeID, TTL: c.cfg.TTL,
		Logger: c.log, Now: c.cfg.Now,
	})
	if err != nil {
		return err
	}
	c.revokeLost(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.WithoutCancel(ctx)) }()
	if err := s.RegisterEdge(ctx, c.info()); err != nil {
		s.Close(context.WithoutCancel(ctx))
		<-runErr
		return fmt.Errorf("register: %w", err)
	}
	c.sess.Store(s)
	defer c.forgetSession(s)
	c.log.Info("joined the cluster", "lease", fmt.Sprintf("%x", int64(s.Lease())), "ttl", s.TTL())
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go c.watchDrain(wctx)
	tick := time.NewTicker(c.cfg.RegistryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-runErr:
			if err != nil {
				c.leaseLost(s, err)
				c.lost = s
			}
			return err
		case <-tick.C:
		}
		if err := s.RegisterEdge(ctx, c.info()); err != nil && ctx.Err() == nil {
			c.log.Warn("registry update failed", "err", err)
		}
	}
}

// revokeTimeout bounds the revocation of a lost lease.
const revokeTimeout = 2 * time.Second

// revokeLost revokes the lease of the session lost last, now that etcd
// answers again (a new lease was just granted). The edge stopped acting for
// that lease when it lost it, so nothing depends on it any more; revoking
// it removes the old registration and claims at once instead of after
// their TTL. A failure is logged and the lease left to expire.
func (c *Cluster) revokeLost(ctx context.Context) {
	old := c.lost
	if old == nil {
		return
	}
	c.lost = nil
	rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	if err := old.Close(rctx); err != nil {
		c.log.Warn("could not revoke the lost lease; it expires by itself", "lease", fmt.Sprintf("%x", int64(old.Lease())), "err", err)
		return
	}
	c.log.Info("revoked the lost lease", "lease", fmt.Sprintf("%x", int64(old.Lease())))
}

// leaseLost records the loss of the lease of s: the counter, and a
// cluster.lease_lost span with the number of streams it fenced.
func (c *Cluster) leaseLost(s *cluster.Session, why error) {
	c.leaseLosses.Add(1)
	fenced := 0
	c.heldMu.Lock()
	for cc := range c.held {
		if cc.sess == s {
			fenced++
		}
	}
	c.heldMu.Unlock()
	_, span := c.tr.Start(context.Background(), spanLeaseLost, trace.WithAttributes(
		keyEdgeID.String(c.cfg.EdgeID), keyLease.String(fmt.Sprintf("%x", int64(s.Lease()))),
		keyStreamsFenced.Int(fenced)))
	span.SetStatus(codes.Error, why.Error())
	span.End()
}

// forgetSession forgets the claims of s once it has ended.
func (c *Cluster) forgetSession(s *cluster.Session) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	for cc := range c.held {
		if cc.sess == s {
			delete(c.held, cc)
		}
	}
}

// info returns the edge's registration as of now.
func (c *Cluster) info() cluster.EdgeInfo {
	info := cluster.EdgeInfo{ID: c.cfg.EdgeID, Address: c.cfg.Address, Version: c.cfg.Version,
		Started: c.started, Draining: c.draining.Load()}
	if e := c.edge.Load(); e != nil {
		info.Load = e.load()
	}
	return info
}

// drainKey is where the controller asks an edge to drain.
func (c *Cluster) drainKey() string {
	return "/" + c.cfg.Prefix + "/drain/" + cluster.EscapeSegment(c.cfg.EdgeID)
}

// watchDrain calls OnDrain when the drain request key of this edge
// appears, and deletes the key.
func (c *Cluster) watchDrain(ctx context.Context) {
	key := c.drainKey()
	resp, err := c.cfg.Client.Get(ctx, key)
	if err != nil {
		return
	}
	if len(resp.Kvs) > 0 {
		c.drainRequested(ctx, resp.Kvs[0].Value)
	}
	for wr := range c.cfg.Client.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(resp.Header.Revision+1)) {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				c.drainRequested(ctx, ev.Kv.Value)
			}
		}
	}
}

func (c *Cluster) drainRequested(ctx context.Context, value []byte) {
	var req struct {
		By string `json:"by"`
	}
	_ = json.Unmarshal(value, &req)
	c.drained.Do(func() {
		c.log.Info("drain requested through the cluster", "by", req.By)
		if _, err := c.cfg.Client.Delete(ctx, c.drainKey()); err != nil {
			c.log.Warn("drain request not removed", "err", err)
		}
		if c.cfg.OnDrain != nil {
			c.cfg.OnDrain()
		}
	})
}

// Close revokes the lease: the registration and every claim of the edge
// disappear at once.
func (c *Cluster) Close(ctx context.Context) error {
	if s := c.sess.Load(); s != nil {
		return s.Close(ctx)
	}
	return nil
}

// Claim implements Ownership: it claims the stream in etcd, and applies
// the publish policy when another publisher owns it. The claim is traced
// as cluster.claim and, when the stream has an owner, cluster.takeover,
// both children of the span in ctx (the publish's); a takeover adds a
// "takeover" event to that span.
func (c *Cluster) Claim(ctx context.Context, key StreamKey, info ClaimInfo) (Claim, error) {
	sctx, span := c.tr.Start(ctx, spanClaim, trace.WithAttributes(keyStream.String(key.String()),
		keyEdgeID.String(c.cfg.EdgeID)))
	fail := func(err error) (Claim, error) {
		span.SetAttributes(keyClaimResult.String("error"))
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return nil, err
	}
	s, err := c.session(sctx)
	if err != nil {
		return fail(err)
	}
	req := cluster.ClaimRequest{Remote: info.RemoteAddr}
	cl, err := s.Claim(sctx, key.App, key.Name, req)
	var ce *cluster.ClaimedError
	switch {
	case err != nil && errors.As(err, &ce):
		span.SetAttributes(keyClaimResult.String("owned"), keyOwnerEdge.String(ce.Owner.Edge),
			epochAttr(keyOwnerEpoch, ce.Owner.Epoch))
		span.End()
		return c.claimFrom(ctx, s, key, ce.Owner, req)
	case err != nil:
		return fail(err)
	}
	span.SetAttributes(keyClaimResult.String("granted"), epochAttr(keyEpoch, cl.Epoch()))
	span.End()
	return c.newClaim(s, key, cl), nil
}

// claimFrom applies the publish policy to a stream that owner holds, and
// takes it over when the policy allows, traced as cluster.takeover.
func (c *Cluster) claimFrom(ctx context.Context, s *cluster.Session, key StreamKey, owner cluster.StreamInfo, req cluster.ClaimRequest) (Claim, error) {
	parent := trace.SpanFromContext(ctx)
	ctx, span := c.tr.Start(ctx, spanTakeover, trace.WithAttributes(keyStream.String(key.String()),
		keyEdgeID.String(c.cfg.EdgeID), keyOwnerEdge.String(owner.Edge), epochAttr(keyOwnerEpoch, owner.Epoch)))
	defer span.End()
	why, ok := c.mayTakeOver(ctx, key, owner)
	if !ok {
		span.SetAttributes(keyTakeoverResult.String("refused"))
		return nil, fmt.Errorf("%w (owner: edge %s, epoch %d)", ErrStreamBusy, owner.Edge, owner.Epoch)
	}
	span.SetAttributes(keyTakeoverReason.String(why))
	c.log.Info("taking the stream over", "stream", key.String(), "reason", why,
		"owner_edge", owner.Edge, "owner_epoch", owner.Epoch)
	cl, err := c.takeover(ctx, s, key, owner, req)
	switch {
	case errors.Is(err, ErrStreamBusy):
		span.SetAttributes(keyTakeoverResult.String("lost"))
		return nil, err
	case err != nil:
		span.SetAttributes(keyTakeoverResult.String("error"))
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	c.takeovers.Add(1)
	span.SetAttributes(keyTakeoverResult.String("granted"), epochAttr(keyEpoch, cl.Epoch()))
	parent.AddEvent("takeover", trace.WithAttributes(keyOwnerEdge.String(owner.Edge),
		epochAttr(keyOwnerEpoch, owner.Epoch), keyTakeoverReason.String(why), epochAttr(keyEpoch, cl.Epoch())))
	return c.newClaim(s, key, cl), nil
}

// takeover takes the stream from owner. The owner may rewrite its claim
// meanwhile without changing hands (recording the last media it had): such
// a conflict is retried against the rewritten claim. A conflict with a
// different claim means another publisher won.
func (c *Cluster) takeover(ctx context.Context, s *cluster.Session, key StreamKey, owner cluster.StreamInfo, req cluster.ClaimRequest) (*cluster.Claim, error) {
	for attempt := 0; ; attempt++ {
		cl, err := s.Takeover(ctx, key.App, key.Name, owner, req)
		var ce *cluster.ConflictError
		if err == nil || !errors.As(err, &ce) {
			return cl, err
		}
		switch {
		case ce.Owner == nil:
			// The owner let go meanwhile: claim it afresh.
			return s.Claim(ctx, key.App, key.Name, req)
		case attempt < 3 && ce.Owner.Epoch == owner.Epoch && ce.Owner.Lease == owner.Lease:
			owner = *ce.Owner
		default:
			return nil, fmt.Errorf("%w (another publisher won it)", ErrStreamBusy)
		}
	}
}

// session returns the live session, waiting (bounded by ctx) while the
// edge joins the cluster or replaces a lost lease: a publish that arrives
// meanwhile is answered once the edge can claim, not refused.
func (c *Cluster) session(ctx context.Context) (*cluster.Session, error) {
	for {
		if s := c.sess.Load(); s != nil {
			select {
			case <-s.Done():
			default:
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("edge: not in the cluster: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mayTakeOver reports whether a new publisher may take the stream from
// owner, and why: always under PolicyTakeover; under PolicyReject when the
// owner's edge is gone or draining, or the owner has received no media for
// the reconnect grace (its recorded activity) or for the silence window
// (nothing of its epoch on the bus).
func (c *Cluster) mayTakeOver(ctx context.Context, key StreamKey, owner cluster.StreamInfo) (string, bool) {
	if c.cfg.Policy == PolicyTakeover {
		return "takeover policy", true
	}
	edge, ok, err := cluster.GetEdge(ctx, c.cfg.Client, c.cfg.Prefix, owner.Edge)
	switch {
	case err != nil:
		return "", false
	case !ok || edge.Lease != owner.Lease:
		return "owner's edge is gone", true
	case edge.Draining:
		return "owner's edge is draining", true
	}
	if silent := c.cfg.Now().Sub(owner.Active); silent > c.cfg.ReconnectGrace {
		return fmt.Sprintf("owner silent for %v", silent.Round(time.Millisecond)), true
	}
	if c.cfg.NATS != nil {
		live, err := c.ownerLive(ctx, key, owner.Epoch)
		if err != nil {
			c.log.Warn("cannot watch the bus for the owner's frames", "stream", key.String(), "err", err)
			return "", false
		}
		if !live {
			return fmt.Sprintf("no frame from the owner for %v", c.cfg.SilenceWindow), true
		}
	}
	return "", false
}

// ownerLive watches the stream's media subject for up to the silence
// window and reports whether a message of the owner's epoch (or a newer
// one) went by.
func (c *Cluster) ownerLive(ctx context.Context, key StreamKey, epoch uint64) (bool, error) {
	sub, err := c.cfg.NATS.SubscribeSync(bus.StreamSubject(c.cfg.BusPrefix, key.App, key.Name, bus.KindMedia))
	if err != nil {
		return false, err
	}
	defer sub.Unsubscribe()
	if err := c.cfg.NATS.FlushWithContext(ctx); err != nil {
		return false, err
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.SilenceWindow)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, nil // the window passed in silence
		}
		if env, err := bus.ParseEnvelope(m.Header); err == nil && env.Epoch >= epoch {
			return true, nil
		}
	}
}

// clusterClaim adapts a cluster.Claim to the edge's Claim: it maps the
// reasons and records media activity in etcd every third of the grace.
type clusterClaim struct {
	c      *Cluster
	sess   *cluster.Session
	key    StreamKey
	cl     *cluster.Claim
	active atomic.Int64 // Unix nanoseconds of the latest media
	done   chan struct{}
	once   sync.Once
}

// newClaim returns the edge's claim of cl, made by session s, and holds
// it until it is released.
func (c *Cluster) newClaim(s *cluster.Session, key StreamKey, cl *cluster.Claim) *clusterClaim {
	cc := &clusterClaim{c: c, sess: s, key: key, cl: cl, done: make(chan struct{})}
	c.heldMu.Lock()
	c.held[cc] = struct{}{}
	c.heldMu.Unlock()
	every := max(c.cfg.ReconnectGrace/3, 100*time.Millisecond)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		var touched int64
		for {
			select {
			case <-cc.done:
				return
			case <-cl.Lost():
				return
			case <-tick.C:
			}
			if a := cc.active.Load(); a != touched {
				ctx, cancel := context.WithTimeout(context.Background(), every)
				if err := cl.Touch(ctx, time.Unix(0, a)); err == nil {
					touched = a
				}
				cancel()
			}
		}
	}()
	return cc
}

func (cc *clusterClaim) Epoch() uint64         { return cc.cl.Epoch() }
func (cc *clusterClaim) Lost() <-chan struct{} { return cc.cl.Lost() }
func (cc *clusterClaim) Active(t time.Time)    { cc.active.Store(t.UnixNano()) }

func (cc *clusterClaim) LostReason() error {
	why := cc.cl.LostReason()
	switch {
	case why == nil:
		return nil
	case errors.Is(why, cluster.ErrTakenOver):
		return fmt.Errorf("%w: %w", ErrTakenOver, why)
	case errors.Is(why, cluster.ErrDeleted):
		return fmt.Errorf("%w: %w", ErrKicked, why)
	}
	return fmt.Errorf("%w: %w", ErrOwnershipLost, why)
}

// releaseTimeout bounds the deletion of a released claim. etcd may be
// unreachable when a publisher leaves (the etcd client retries for as long
// as the context lasts); the session, and the edge's shutdown, must not
// wait for it. A claim left behind names a stream nobody publishes: the
// next publisher takes it over after the silence window, as after a
// crash, and it goes with the edge's lease.
const releaseTimeout = 2 * time.Second

// Release gives the stream up, traced as cluster.release (a child of the
// span in ctx, the publish's), waiting at most releaseTimeout for etcd.
func (cc *clusterClaim) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	cc.once.Do(func() { close(cc.done) })
	ctx, span := cc.c.tr.Start(ctx, spanRelease, trace.WithAttributes(keyStream.String(cc.key.String()),
		epochAttr(keyEpoch, cc.cl.Epoch())))
	defer span.End()
	// A claim lost with its lease stays held: leaseLost counts it.
	if !errors.Is(cc.cl.LostReason(), cluster.ErrLeaseLost) {
		cc.c.heldMu.Lock()
		delete(cc.c.held, cc)
		cc.c.heldMu.Unlock()
	}
	if why := cc.cl.LostReason(); why != nil {
		span.SetAttributes(keyLostReason.String(why.Error()))
	}
	err := cc.cl.Release(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
