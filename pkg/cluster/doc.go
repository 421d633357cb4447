// Package cluster keeps Tributary's cluster state in etcd: which edges are
// alive (the edge registry) and which edge owns each stream (claims), with
// the fencing epochs that keep a stale owner from feeding players.
// docs/cluster.md describes the same contract for operators and for
// programs that read etcd without this package.
//
// # Keys
//
// Under a prefix (DefaultPrefix unless configured, [A-Za-z0-9_-]+):
//
//	/<prefix>/edges/<edge-id>          EdgeInfo as JSON, under the edge's lease
//	/<prefix>/streams/<app>/<name>     StreamInfo as JSON, under the owner's lease
//
// Edge ids, applications and stream names are arbitrary strings; each is
// one key segment, escaped by EscapeSegment (url.PathEscape, and "%" for
// the empty string). EdgeKey, StreamKey, ParseEdgeKey and ParseStreamKey
// build and read keys.
//
// # Sessions and claims
//
// An edge holds one Session: one lease, granted by NewSession and kept
// alive by Run with its own keep-alive loop. The session keeps a local
// deadline, the send time of the last keep-alive request that succeeded
// plus the TTL minus a safety margin: the server cannot expire the lease
// before send time plus TTL, so an edge that declares the lease lost at
// the local deadline stops before anyone else can take its streams, even
// when it is cut off from etcd. Done is closed when the session ends.
//
// Session.Claim creates a stream's key if absent; the revision of that
// transaction is the claim's epoch, strictly increasing across the
// cluster. Session.Takeover replaces an observed owner, comparing the
// key's ModRevision, so of two edges at most one wins. A Claim's Lost
// channel is closed when its session ends or when anyone else rewrites or
// deletes the key; the owner must stop publishing then. Claim.Touch
// records media liveness, Claim.Release deletes the key if it is still the
// claim's, and Session.Close revokes the lease, so that every key of the
// edge disappears at once.
//
// # Reading
//
// GetStream, GetEdge, ListStreams, ListEdges and Watch serve the edges'
// policies and the controller; DeleteStream removes a claim only if it is
// unchanged since read.
//
// # Errors
//
// Errors are prefixed "cluster:" and wrap the etcd client's errors. Callers
// branch with errors.Is and errors.As on ErrLeaseLost, ErrClosed,
// ErrClaimed (*ClaimedError), ErrConflict (*ConflictError), ErrTakenOver
// (*TakenOverError), ErrDeleted and ErrEdgeExists.
//
// # Concurrency
//
// Session and Claim methods and the package functions are safe for
// concurrent use. NewSession starts nothing; Run blocks while it keeps the
// lease alive; each Claim runs one watch goroutine, which Release or the
// end of the session stops and Close waits for. Watch runs one goroutine
// until its context ends. The etcd client is the caller's.
package cluster
