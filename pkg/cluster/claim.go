package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Bounds of the wait before a broken watch is established again.
const (
	minWatchRetry = 50 * time.Millisecond
	maxWatchRetry = time.Second
)

// ClaimRequest describes the publish a claim is made for.
type ClaimRequest struct {
	// Remote is the publishing encoder's address.
	Remote string
}

// Claim is the ownership of one stream by a session: the stream's key,
// written under the session's lease. Its methods are safe for concurrent
// use.
//
// A claim holds while the key is the one the claim wrote: Lost is closed,
// at once, when the session ends (lease lost or may be lost, session
// closed) or when anyone else rewrites or deletes the key (a watch on the
// key from the claim's revision tells). The owner must stop publishing the
// stream when Lost is closed.
type Claim struct {
	s     *Session
	key   string
	epoch uint64
	log   *slog.Logger

	lost      chan struct{}
	ctx       context.Context // the watch's; cancelled when the claim ends
	cancel    context.CancelFunc
	watchDone chan struct{}

	opMu        sync.Mutex // serializes Touch and Release
	releaseDone bool       // guarded by opMu

	mu       sync.Mutex
	info     StreamInfo
	reason   error
	released bool
}

// Claim makes the session the owner of the stream app/name: a transaction
// creates the stream's key under the session's lease if the key does not
// exist. The claim's epoch is the revision of that transaction, greater
// than every earlier epoch of any stream. When the stream has an owner
// (this session included), Claim returns a *ClaimedError (matching
// ErrClaimed) holding it.
func (s *Session) Claim(ctx context.Context, app, name string, req ClaimRequest) (*Claim, error) {
	key := StreamKey(s.cfg.Prefix, app, name)
	resp, info, err := s.acquire(ctx, key, app, name, req, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	if err != nil {
		return nil, fmt.Errorf("cluster: claim %q/%q: %w", app, name, err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return nil, fmt.Errorf("cluster: claim %q/%q: the key existed but could not be read in the same transaction", app, name)
		}
		owner, err := decodeStream(s.cfg.Prefix, kvs[0])
		if err != nil {
			return nil, fmt.Errorf("cluster: claim %q/%q: %w", app, name, err)
		}
		return nil, &ClaimedError{Owner: owner}
	}
	return s.newClaim(key, info, resp.Header.Revision)
}

// Takeover replaces the owner observed (from GetStream, ListStreams, Watch
// or a ClaimedError) with the session: a transaction rewrites the stream's
// key under the session's lease if its ModRevision is still the observed
// one. The new claim has a new, greater epoch, and the previous owner's
// claim is lost (ErrTakenOver). When the key changed or disappeared since
// it was observed, Takeover returns a *ConflictError (matching
// ErrConflict) with the current owner, if any. Of two takeovers of the
// same observation, at most one succeeds.
func (s *Session) Takeover(ctx context.Context, app, name string, observed StreamInfo, req ClaimRequest) (*Claim, error) {
	if observed.App != app || observed.Name != name {
		return nil, fmt.Errorf("cluster: takeover %q/%q: the observed claim is of stream %q/%q", app, name, observed.App, observed.Name)
	}
	if observed.ModRevision <= 0 {
		return nil, fmt.Errorf("cluster: takeover %q/%q: the observed claim has no mod revision (read it from etcd)", app, name)
	}
	key := StreamKey(s.cfg.Prefix, app, name)
	resp, info, err := s.acquire(ctx, key, app, name, req, clientv3.Compare(clientv3.ModRevision(key), "=", observed.ModRevision))
	if err != nil {
		return nil, fmt.Errorf("cluster: takeover %q/%q: %w", app, name, err)
	}
	if !resp.Succeeded {
		ce := &ConflictError{App: app, Name: name}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			if owner, err := decodeStream(s.cfg.Prefix, kvs[0]); err == nil {
				ce.Owner = &owner
			}
		}
		return nil, ce
	}
	return s.newClaim(key, info, resp.Header.Revision)
}

// acquire writes a new claim of key under the session's lease if cmp
// holds, and reads the key otherwise.
func (s *Session) acquire(ctx context.Context, key, app, name string, req ClaimRequest, cmp clientv3.Cmp) (*clientv3.TxnResponse, StreamInfo, error) {
	if err := s.alive(); err != nil {
		return nil, StreamInfo{}, err
	}
	now := s.cfg.Now().UTC()
	info := StreamInfo{App: app, Name: name, Edge: s.cfg.EdgeID, Remote: req.Remote, Started: now, Active: now}
	val, err := encode(info) // no epoch yet: the key's revision is the epoch
	if err != nil {
		return nil, info, err
	}
	resp, err := s.cli.Txn(ctx).
		If(cmp).
		Then(clientv3.OpPut(key, val, clientv3.WithLease(s.lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, info, s.checkLease(err)
	}
	return resp, info, nil
}

// newClaim registers the claim won at revision rev and starts its watch.
func (s *Session) newClaim(key string, info StreamInfo, rev int64) (*Claim, error) {
	info.Epoch = uint64(rev)
	info.ModRevision = rev
	info.Lease = s.lease
	c := &Claim{
		s:         s,
		key:       key,
		epoch:     info.Epoch,
		log:       s.log.With("stream", info.App+"/"+info.Name, "epoch", info.Epoch),
		lost:      make(chan struct{}),
		watchDone: make(chan struct{}),
		info:      info,
	}
	c.ctx, c.cancel = context.WithCancel(s.base)
	s.mu.Lock()
	if err := s.err; err != nil {
		s.mu.Unlock()
		c.cancel()
		return nil, fmt.Errorf("cluster: stream %q/%q won at revision %d as the session ended: %w", info.App, info.Name, rev, err)
	}
	s.claims[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.watch(rev + 1)
	return c, nil
}

// Epoch returns the claim's fencing token: the revision at which it was
// won. Every frame published under the claim carries it.
func (c *Claim) Epoch() uint64 { return c.epoch }

// Info returns the claim as last written by this claim (Active and
// ModRevision change with Touch).
func (c *Claim) Info() StreamInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Lost returns a channel that is closed when the claim is lost: the
// session ended or someone else rewrote or deleted the key. Release does
// not close it.
func (c *Claim) Lost() <-chan struct{} { return c.lost }

// LostReason returns nil until Lost is closed, then why: an error matching
// ErrLeaseLost, ErrClosed (the session was closed or stopped), ErrDeleted,
// or a *TakenOverError (matching ErrTakenOver) naming the new owner.
func (c *Claim) LostReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// lose marks the claim lost for reason, once, unless it was released.
func (c *Claim) lose(reason error) {
	c.mu.Lock()
	if c.released || c.reason != nil {
		c.mu.Unlock()
		return
	}
	c.reason = reason
	close(c.lost)
	c.mu.Unlock()
	c.cancel()
	c.detach()
	level := slog.LevelInfo
	if errors.Is(reason, ErrClosed) {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, "claim lost", "reason", reason)
}

// detach removes the claim from its session.
func (c *Claim) detach() {
	c.s.mu.Lock()
	delete(c.s.claims, c)
	c.s.mu.Unlock()
}

// state returns the claim's info and an error when it may not act any
// more.
func (c *Claim) state() (StreamInfo, error) {
	c.mu.Lock()
	info, reason, released := c.info, c.reason, c.released
	c.mu.Unlock()
	switch {
	case released:
		return info, fmt.Errorf("%w: the claim was released", ErrClosed)
	case reason != nil:
		return info, reason
	}
	return info, c.s.alive()
}

// Touch records that media flows: it rewrites the key with Active set to
// active, in a transaction that succeeds only if the key is still the one
// this claim last wrote. The owner calls it every few seconds while media
// flows, so that a would-be owner can tell a live owner from a silent one.
// When the key is no longer the claim's, the claim is lost and Touch
// returns the reason.
func (c *Claim) Touch(ctx context.Context, active time.Time) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	info, err := c.state()
	if err != nil {
		return fmt.Errorf("cluster: touch %q/%q: %w", info.App, info.Name, err)
	}
	info.Active = active.UTC()
	val, err := encode(info) // with the epoch, now that the revision moves on
	if err != nil {
		return err
	}
	resp, err := c.s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(c.key), "=", info.ModRevision)).
		Then(clientv3.OpPut(c.key, val, clientv3.WithLease(c.s.lease))).
		Else(clientv3.OpGet(c.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: touch %q/%q: %w", info.App, info.Name, c.s.checkLease(err))
	}
	if !resp.Succeeded {
		reason := c.judgeKVs(resp.Responses[0].GetResponseRange().Kvs)
		if reason == nil {
			reason = fmt.Errorf("%w: the key changed under the claim", ErrTakenOver)
		}
		c.lose(reason)
		return fmt.Errorf("cluster: touch %q/%q: %w", info.App, info.Name, reason)
	}
	c.mu.Lock()
	c.info.Active = info.Active
	c.info.ModRevision = resp.Header.Revision
	c.mu.Unlock()
	return nil
}

// Release gives the stream up: it deletes the key if it is still the one
// this claim last wrote, and stops the claim's watch. Lost is not closed.
// Release is idempotent; when the delete fails (ctx, network), calling it
// again tries again. A claim already lost deletes nothing: its key is
// someone else's, or goes with the session's lease.
func (c *Claim) Release(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.releaseDone {
		return nil
	}
	c.mu.Lock()
	c.released = true
	info, wasLost := c.info, c.reason != nil
	c.mu.Unlock()
	c.cancel()
	c.detach()
	<-c.watchDone
	if wasLost {
		c.releaseDone = true
		return nil
	}
	_, err := c.s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(c.key), "=", info.ModRevision)).
		Then(clientv3.OpDelete(c.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: release %q/%q: %w", info.App, info.Name, err)
	}
	c.releaseDone = true
	return nil
}

// ours reports whether kv is a write of this claim: under the session's
// lease with the claim's epoch.
func (c *Claim) ours(kv *mvccpb.KeyValue) (StreamInfo, bool) {
	info, err := decodeStream(c.s.cfg.Prefix, kv)
	if err != nil {
		return info, false
	}
	return info, clientv3.LeaseID(kv.Lease) == c.s.lease && info.Epoch == c.epoch
}

// judgeKVs returns why the claim is lost given the key's current state
// (no kvs: deleted), or nil when the key is still the claim's.
func (c *Claim) judgeKVs(kvs []*mvccpb.KeyValue) error {
	if len(kvs) == 0 {
		return ErrDeleted
	}
	if info, ok := c.ours(kvs[0]); !ok {
		return &TakenOverError{By: info}
	}
	return nil
}

// watch follows the claim's key from revision from until the claim ends,
// and marks the claim lost at the first change that is not its own. A
// broken watch is established again from the revision after the last event
// seen; when that history was compacted, a read decides: the claim holds
// only if the key is still its own.
func (c *Claim) watch(from int64) {
	defer c.s.wg.Done()
	defer close(c.watchDone)
	next := from
	var delay time.Duration
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			}
		}
		delay = min(max(2*delay, minWatchRetry), maxWatchRetry)
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(c.ctx))
		reason, resumeAt, healthy := c.follow(wctx, next)
		wcancel()
		if reason != nil {
			c.lose(reason)
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		if resumeAt > next {
			next = resumeAt
		}
		if healthy {
			delay = minWatchRetry
		}
		c.log.Debug("claim watch broken; watching again", "from_revision", next, "retry_in", delay)
	}
}

// follow runs one watch of the claim's key from revision from. It returns
// the reason the claim is lost, or else the revision to watch from next
// and whether the watch delivered anything before it broke.
func (c *Claim) follow(ctx context.Context, from int64) (reason error, next int64, healthy bool) {
	next = from
	wch := c.s.cli.Watch(ctx, c.key, clientv3.WithRev(from))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			g, err := c.s.cli.Get(ctx, c.key)
			if err != nil {
				return nil, next, healthy
			}
			if reason := c.judgeKVs(g.Kvs); reason != nil {
				return reason, next, healthy
			}
			return nil, g.Header.Revision + 1, healthy
		}
		if resp.Err() != nil {
			return nil, next, healthy
		}
		healthy = true
		for _, ev := range resp.Events {
			next = ev.Kv.ModRevision + 1
			if ev.Type == mvccpb.DELETE {
				return ErrDeleted, next, healthy
			}
			if info, ok := c.ours(ev.Kv); !ok {
				return &TakenOverError{By: info}, next, healthy
			}
		}
	}
	return nil, next, healthy
}
