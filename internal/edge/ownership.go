package edge

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStreamBusy is returned by Ownership.Claim when another publisher owns
// the stream. The edge answers the publish with NetStream.Publish.BadName.
var ErrStreamBusy = errors.New("edge: stream is already being published")

// StreamKey names a stream: the RTMP application and stream name, as sent
// by the client (without query strings).
type StreamKey struct {
	App, Name string
}

// String returns "app/name", for logs.
func (k StreamKey) String() string { return k.App + "/" + k.Name }

// ClaimInfo describes the publish a claim is made for.
type ClaimInfo struct {
	// RemoteAddr is the encoder's address.
	RemoteAddr string
}

// Ownership decides which publisher may feed a stream: an edge accepts a
// publish only once Claim has succeeded, and tags every frame it puts on
// the bus with the claim's epoch. LocalOwnership serves one process; the
// cluster implementation backs claims with etcd leases.
type Ownership interface {
	// Claim makes the caller the owner of the stream for one publish. It
	// fails with an error wrapping ErrStreamBusy when the stream has an
	// owner that may not be taken over.
	Claim(ctx context.Context, key StreamKey, info ClaimInfo) (Claim, error)
}

// Claim is the ownership of one stream for one publish.
type Claim interface {
	// Epoch is the fencing token of the claim: greater than the epoch of
	// every earlier claim of the same stream.
	Epoch() uint64
	// Lost is closed when the ownership ends other than by Release (a
	// lease lost, a takeover, an administrator's kick): the edge must stop
	// publishing at once.
	Lost() <-chan struct{}
	// LostReason says why Lost was closed: an error wrapping ErrTakenOver,
	// ErrKicked or ErrOwnershipLost; nil before.
	LostReason() error
	// Active records that media arrived at t, so that the cluster can tell
	// a live owner from a silent one. It is called for every frame and
	// must be cheap; it never blocks.
	Active(t time.Time)
	// Release gives the stream up. It is safe to call more than once.
	Release(ctx context.Context) error
}

// Reasons a claim is lost, for Claim.LostReason.
var (
	// ErrTakenOver: a newer publisher of the stream won it.
	ErrTakenOver = errors.New("edge: stream taken over by a newer publisher")
	// ErrKicked: an administrator stopped the publish.
	ErrKicked = errors.New("edge: publish stopped by an administrator")
	// ErrOwnershipLost: the edge lost its standing in the cluster (its
	// lease), so it may no longer publish anything.
	ErrOwnershipLost = errors.New("edge: lost contact with the cluster")
)

// LocalOwnership grants claims within one process: one publisher per
// stream on this edge. Epochs are the claim time in Unix nanoseconds (kept
// strictly increasing), so a stream published again on another edge of a
// cluster without etcd still gets a newer epoch as long as clocks agree
// within the time between the two publishes. It is safe for concurrent use;
// the zero value is not usable, call NewLocalOwnership.
type LocalOwnership struct {
	now func() time.Time

	mu     sync.Mutex
	last   uint64
	claims map[StreamKey]*localClaim
}

// NewLocalOwnership returns an empty LocalOwnership. now is the clock
// epochs are taken from; nil means time.Now.
func NewLocalOwnership(now func() time.Time) *LocalOwnership {
	if now == nil {
		now = time.Now
	}
	return &LocalOwnership{now: now, claims: make(map[StreamKey]*localClaim)}
}

// Claim implements Ownership.
func (o *LocalOwnership) Claim(ctx context.Context, key StreamKey, info ClaimInfo) (Claim, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.claims[key]; ok {
		return nil, ErrStreamBusy
	}
	epoch := max(o.last+1, uint64(max(o.now().UnixNano(), 1)))
	o.last = epoch
	c := &localClaim{o: o, key: key, epoch: epoch, lost: make(chan struct{})}
	o.claims[key] = c
	return c, nil
}

type localClaim struct {
	o     *LocalOwnership
	key   StreamKey
	epoch uint64
	lost  chan struct{}
}

func (c *localClaim) Epoch() uint64         { return c.epoch }
func (c *localClaim) Lost() <-chan struct{} { return c.lost }
func (c *localClaim) LostReason() error     { return nil }
func (c *localClaim) Active(time.Time)      {}

func (c *localClaim) Release(context.Context) error {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	if c.o.claims[c.key] == c {
		delete(c.o.claims, c.key)
	}
	return nil
}
