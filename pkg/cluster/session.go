package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease timing defaults and limits.
const (
	// DefaultTTL is the lease TTL when Config.TTL is zero.
	DefaultTTL = 5 * time.Second
	// MinTTL is the shortest lease TTL a session uses.
	MinTTL = 2 * time.Second
)

// maxRetryDelay bounds the wait between failed keep-alive attempts.
const maxRetryDelay = 250 * time.Millisecond

// Config configures a Session. Zero values mean the documented defaults.
type Config struct {
	// Client is the etcd client; required. The session does not close it.
	Client *clientv3.Client
	// Prefix is the first segment of every key, [A-Za-z0-9_-]+; empty
	// means DefaultPrefix.
	Prefix string
	// EdgeID names the edge the session belongs to; required. Claims
	// carry it (StreamInfo.Edge) and RegisterEdge registers it.
	EdgeID string
	// TTL is the lease's time to live. etcd counts whole seconds, so it
	// is rounded up to a whole second; values under MinTTL become MinTTL.
	// Zero means DefaultTTL.
	TTL time.Duration
	// KeepAliveInterval is the time between keep-alive requests. Zero
	// means TTL/3. It must leave room for a retry before the local
	// deadline: at most (TTL - SafetyMargin)/2.
	KeepAliveInterval time.Duration
	// SafetyMargin is how long before the server could let the lease
	// expire the session declares it lost. The local deadline is the send
	// time of the last keep-alive request that succeeded, plus TTL, minus
	// SafetyMargin. Zero means TTL/5; it must be less than TTL.
	SafetyMargin time.Duration
	// Logger receives the session's notices; nil discards them.
	Logger *slog.Logger
	// Now is the clock deadlines and timestamps are taken from; nil means
	// time.Now.
	Now func() time.Time
}

// normalize checks cfg and fills in the defaults.
func (cfg Config) normalize() (Config, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("cluster: config: Client is nil"))
	}
	if err := CheckPrefix(cfg.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("cluster: config: %w", err))
	}
	cfg.Prefix = orDefault(cfg.Prefix)
	if cfg.EdgeID == "" {
		errs = append(errs, errors.New("cluster: config: EdgeID is empty"))
	}
	switch {
	case cfg.TTL < 0:
		errs = append(errs, fmt.Errorf("cluster: config: TTL %v is negative", cfg.TTL))
	case cfg.TTL == 0:
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL > 0 {
		cfg.TTL = max(MinTTL, (cfg.TTL + time.Second - 1).Truncate(time.Second))
	}
	switch {
	case cfg.SafetyMargin < 0:
		errs = append(errs, fmt.Errorf("cluster: config: SafetyMargin %v is negative", cfg.SafetyMargin))
	case cfg.SafetyMargin == 0:
		cfg.SafetyMargin = cfg.TTL / 5
	case cfg.SafetyMargin >= cfg.TTL:
		errs = append(errs, fmt.Errorf("cluster: config: SafetyMargin %v is not less than the TTL %v", cfg.SafetyMargin, cfg.TTL))
	}
	switch {
	case cfg.KeepAliveInterval < 0:
		errs = append(errs, fmt.Errorf("cluster: config: KeepAliveInterval %v is negative", cfg.KeepAliveInterval))
	case cfg.KeepAliveInterval == 0:
		cfg.KeepAliveInterval = cfg.TTL / 3
	}
	if limit := (cfg.TTL - cfg.SafetyMargin) / 2; cfg.SafetyMargin < cfg.TTL && cfg.KeepAliveInterval > limit {
		errs = append(errs, fmt.Errorf("cluster: config: KeepAliveInterval %v leaves no room for a retry: want at most (TTL - SafetyMargin)/2 = %v", cfg.KeepAliveInterval, limit))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, errors.Join(errs...)
}

// Session is an edge's presence in the cluster: one etcd lease, kept alive
// by Run, to which the edge's registration and its stream claims are
// attached. The session knows when the server could let the lease expire
// (the local deadline) and declares the lease lost SafetyMargin before
// that, so that the owner of a claim stops before anyone else can win the
// stream. Its methods are safe for concurrent use.
type Session struct {
	cli   *clientv3.Client
	cfg   Config
	log   *slog.Logger
	lease clientv3.LeaseID

	// base is cancelled when the session ends; claims' watches derive
	// from it.
	base   context.Context
	cancel context.CancelFunc
	done   chan struct{}

	running atomic.Bool
	wg      sync.WaitGroup // claims' watch goroutines

	mu       sync.Mutex
	renewed  time.Time // send time of the grant or the last successful keep-alive
	deadline time.Time // local lease deadline
	err      error     // why the session ended; nil while it lives
	claims   map[*Claim]struct{}

	revokeMu sync.Mutex
	revoked  bool
}

// NewSession grants the session's lease and returns the session. It starts
// nothing: call Run to keep the lease alive. ctx bounds the grant.
func NewSession(ctx context.Context, cfg Config) (*Session, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	send := cfg.Now()
	resp, err := cfg.Client.Grant(ctx, int64(cfg.TTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("cluster: grant a lease of %v: %w", cfg.TTL, err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Session{
		cli:    cfg.Client,
		cfg:    cfg,
		lease:  resp.ID,
		log:    cfg.Logger.With("component", "cluster", "lease", fmt.Sprintf("%x", int64(resp.ID))),
		base:   base,
		cancel: cancel,
		done:   make(chan struct{}),
		claims: make(map[*Claim]struct{}),
	}
	s.renewed = send
	s.deadline = s.localDeadline(send, resp.TTL)
	return s, nil
}

// localDeadline returns when the lease must be declared lost, for a grant
// or keep-alive request sent at send whose response reported ttl seconds.
// The server renewed the lease after send, so it cannot expire before
// send + TTL; the session gives up SafetyMargin earlier.
func (s *Session) localDeadline(send time.Time, ttl int64) time.Time {
	d := s.cfg.TTL
	if ttl > 0 {
		d = min(d, time.Duration(ttl)*time.Second)
	}
	return send.Add(d - s.cfg.SafetyMargin)
}

// Lease returns the session's lease.
func (s *Session) Lease() clientv3.LeaseID { return s.lease }

// EdgeID returns the edge id claims are made for.
func (s *Session) EdgeID() string { return s.cfg.EdgeID }

// Prefix returns the key prefix the session uses.
func (s *Session) Prefix() string { return s.cfg.Prefix }

// TTL returns the lease TTL in use (after rounding).
func (s *Session) TTL() time.Duration { return s.cfg.TTL }

// Deadline returns the local lease deadline: the send time of the last
// keep-alive request that succeeded (or of the grant) plus TTL minus the
// safety margin. Past it, the session is lost. After the session ended it
// returns the last deadline it had.
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Done returns a channel that is closed when the session ends: the lease
// was lost, Close was called or Run's context ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session lives, then why it ended: an error
// matching ErrLeaseLost, or ErrClosed.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// alive returns nil when the session may still act for its lease: it has
// not ended and the local deadline has not passed.
func (s *Session) alive() error {
	s.mu.Lock()
	err, deadline := s.err, s.deadline
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !s.cfg.Now().Before(deadline) {
		return fmt.Errorf("%w: local deadline %s passed", ErrLeaseLost, deadline.Format(time.RFC3339Nano))
	}
	return nil
}

// end ends the session for reason, once: Done is closed and every claim is
// lost with reason before anything else happens.
func (s *Session) end(reason error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = reason
	claims := s.claims
	s.claims = nil
	close(s.done)
	s.mu.Unlock()
	for c := range claims {
		c.lose(reason)
	}
	s.cancel()
}

// checkLease ends the session when err says the server does not know the
// lease, and returns err.
func (s *Session) checkLease(err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.end(fmt.Errorf("%w: the server does not know lease %x", ErrLeaseLost, int64(s.lease)))
	}
	return err
}

// Run keeps the lease alive until ctx ends, Close is called or the lease
// is lost. It sends a keep-alive request (KeepAliveOnce) every
// KeepAliveInterval, retries failures at short intervals, and bounds every
// attempt by the local deadline; when the deadline passes without a
// successful keep-alive, or the server reports the lease gone, or the
// client is closed, the session ends with ErrLeaseLost and Run returns an
// error matching it.
//
// Run returns nil after Close, and when ctx ends: the session then ends
// (Done is closed, claims are lost with ErrClosed) and the lease is left to
// expire, so give Run a context that lasts until Close. Run may be called
// only once.
func (s *Session) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("cluster: Session.Run called more than once")
	}
	interval := s.cfg.KeepAliveInterval
	retry := min(interval/4, maxRetryDelay)
	s.mu.Lock()
	next := s.renewed.Add(interval)
	s.mu.Unlock()
	failures := 0
	var lastErr error
	for {
		if s.Err() != nil {
			return s.result()
		}
		deadline := s.Deadline()
		now := s.cfg.Now()
		if !now.Before(deadline) {
			reason := fmt.Errorf("%w: no keep-alive succeeded before the local deadline %s (%d failed attempts, last: %v)",
				ErrLeaseLost, deadline.Format(time.RFC3339Nano), failures, lastErr)
			s.end(reason)
			return s.result()
		}
		if wait := min(next.Sub(now), deadline.Sub(now)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				s.end(ErrClosed)
				return nil
			case <-s.done:
				t.Stop()
			case <-s.cli.Ctx().Done():
				t.Stop()
				s.end(fmt.Errorf("%w: the etcd client was closed", ErrLeaseLost))
			}
			continue
		}
		send := s.cfg.Now()
		kctx, cancel := context.WithTimeout(s.base, deadline.Sub(send))
		stop := context.AfterFunc(ctx, cancel)
		resp, err := s.cli.KeepAliveOnce(kctx, s.lease)
		stop()
		cancel()
		switch {
		case err == nil:
			s.extend(send, s.localDeadline(send, resp.TTL))
			if failures > 0 {
				s.log.Info("keep-alive succeeded again", "failed_attempts", failures)
			}
			failures, lastErr = 0, nil
			next = send.Add(interval)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			s.checkLease(err)
		case ctx.Err() != nil:
			s.end(ErrClosed)
			return nil
		case s.base.Err() != nil: // closed meanwhile
			return s.result()
		default:
			failures++
			lastErr = err
			if failures == 1 {
				s.log.Warn("keep-alive failed; retrying until the local deadline",
					"err", err, "deadline", deadline)
			}
			next = s.cfg.Now().Add(retry)
		}
	}
}

// result returns what Run returns once the session ended: nil when it was
// closed or stopped, an error matching ErrLeaseLost when the lease was
// lost, and nil while the session lives.
func (s *Session) result() error {
	if err := s.Err(); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// extend moves the local deadline forward after a successful keep-alive
// sent at send.
func (s *Session) extend(send, deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && deadline.After(s.deadline) {
		s.renewed = send
		s.deadline = deadline
	}
}

// Close ends the session and revokes its lease, so that every key attached
// to it (the registration, all claims) disappears at once. Claims are lost
// with ErrClosed before the lease is revoked. It waits for the session's
// goroutines. Close may be called more than once; a revoke that failed is
// tried again, a lease the server no longer knows counts as revoked.
func (s *Session) Close(ctx context.Context) error {
	s.end(ErrClosed)
	s.wg.Wait()
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	if s.revoked {
		return nil
	}
	if s.cli.Ctx().Err() != nil {
		return fmt.Errorf("cluster: revoke lease %x: the etcd client is closed; the lease is left to expire", int64(s.lease))
	}
	if _, err := s.cli.Revoke(ctx, s.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("cluster: revoke lease %x: %w", int64(s.lease), err)
	}
	s.revoked = true
	return nil
}

// RegisterEdge writes the edge's registration under the session's lease.
// Call it again to update the registration (load, draining). info.ID
// defaults to the session's EdgeID and must equal it when set. It fails
// with an error matching ErrEdgeExists when the id is registered under
// another lease.
func (s *Session) RegisterEdge(ctx context.Context, info EdgeInfo) error {
	if info.ID == "" {
		info.ID = s.cfg.EdgeID
	}
	if info.ID != s.cfg.EdgeID {
		return fmt.Errorf("cluster: register edge %q: the session belongs to edge %q", info.ID, s.cfg.EdgeID)
	}
	if err := s.alive(); err != nil {
		return fmt.Errorf("cluster: register edge %q: %w", info.ID, err)
	}
	if !info.Started.IsZero() {
		info.Started = info.Started.UTC()
	}
	val, err := encode(info)
	if err != nil {
		return err
	}
	key := EdgeKey(s.cfg.Prefix, info.ID)
	put := clientv3.OpPut(key, val, clientv3.WithLease(s.lease))
	// Ours already: overwrite. Absent: create. Else: someone else's.
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(key), "=", s.lease)).
		Then(put).
		Else(clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
			[]clientv3.Op{put},
			[]clientv3.Op{clientv3.OpGet(key)},
		)).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: register edge %q: %w", info.ID, s.checkLease(err))
	}
	if resp.Succeeded {
		return nil
	}
	inner := resp.Responses[0].GetResponseTxn()
	if inner.Succeeded {
		return nil
	}
	if kvs := inner.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return fmt.Errorf("%w: edge %q is registered under lease %x", ErrEdgeExists, info.ID, kvs[0].Lease)
	}
	return fmt.Errorf("%w: edge %q", ErrEdgeExists, info.ID)
}
