package cluster

import (
	"errors"
	"fmt"
)

var (
	// ErrLeaseLost means the session's lease is gone or may be gone: the
	// server no longer knows it, or no keep-alive succeeded in time to
	// keep the local deadline. Every claim of the session is lost with it.
	ErrLeaseLost = errors.New("cluster: lease lost")

	// ErrClosed means the session was closed (Close) or stopped (the
	// context of Run ended), or the claim was released.
	ErrClosed = errors.New("cluster: closed")

	// ErrClaimed is matched by a *ClaimedError: Claim found an owner.
	ErrClaimed = errors.New("cluster: stream already claimed")

	// ErrConflict is matched by a *ConflictError: Takeover found the
	// stream changed since it was observed.
	ErrConflict = errors.New("cluster: stream changed since it was observed")

	// ErrTakenOver is matched by a *TakenOverError: the claim's key was
	// rewritten by someone else.
	ErrTakenOver = errors.New("cluster: stream taken over")

	// ErrDeleted means the claim's key was deleted by someone else (the
	// controller's reaper or an operator's kick).
	ErrDeleted = errors.New("cluster: claim deleted")

	// ErrEdgeExists means RegisterEdge found the edge id registered under
	// another lease: another live edge uses the same id, or a previous
	// incarnation of this edge whose lease has not expired yet.
	ErrEdgeExists = errors.New("cluster: edge id registered by another session")
)

// ClaimedError is returned by Session.Claim when the stream has an owner.
// It matches ErrClaimed.
type ClaimedError struct {
	// Owner is the claim found, with its ModRevision, ready for Takeover.
	Owner StreamInfo
}

// Error implements error.
func (e *ClaimedError) Error() string {
	return fmt.Sprintf("cluster: stream %q/%q already claimed by edge %q (epoch %d)", e.Owner.App, e.Owner.Name, e.Owner.Edge, e.Owner.Epoch)
}

// Is reports whether target is ErrClaimed.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }

// ConflictError is returned by Session.Takeover when the stream's key is
// no longer the one observed. It matches ErrConflict.
type ConflictError struct {
	// App and Name name the stream.
	App, Name string
	// Owner is the claim found instead, or nil when the stream has no
	// owner now.
	Owner *StreamInfo
}

// Error implements error.
func (e *ConflictError) Error() string {
	if e.Owner == nil {
		return fmt.Sprintf("cluster: stream %q/%q changed since it was observed: it has no owner now", e.App, e.Name)
	}
	return fmt.Sprintf("cluster: stream %q/%q changed since it was observed: now owned by edge %q (epoch %d)", e.App, e.Name, e.Owner.Edge, e.Owner.Epoch)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// TakenOverError is the reason a claim was lost when another claim
// replaced it. It matches ErrTakenOver.
type TakenOverError struct {
	// By is the claim that replaced this one.
	By StreamInfo
}

// Error implements error.
func (e *TakenOverError) Error() string {
	return fmt.Sprintf("cluster: stream %q/%q taken over by edge %q (epoch %d)", e.By.App, e.By.Name, e.By.Edge, e.By.Epoch)
}

// Is reports whether target is ErrTakenOver.
func (e *TakenOverError) Is(target error) bool { return target == ErrTakenOver }
