package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// EdgePut: an edge registered or updated its registration.
	EdgePut EventKind = iota + 1
	// EdgeDeleted: an edge's registration disappeared (lease ended).
	EdgeDeleted
	// StreamPut: a stream was claimed, taken over or touched.
	StreamPut
	// StreamDeleted: a claim disappeared (released, lease ended, deleted).
	StreamDeleted
	// Compacted: the history from the requested revision is gone; events
	// were missed. It is the last event: the channel closes after it.
	// Read the state again (ListEdges, ListStreams) and watch from there.
	Compacted
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EdgePut:
		return "edge-put"
	case EdgeDeleted:
		return "edge-deleted"
	case StreamPut:
		return "stream-put"
	case StreamDeleted:
		return "stream-deleted"
	case Compacted:
		return "compacted"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of the cluster's state.
type Event struct {
	// Kind says what changed.
	Kind EventKind
	// Edge is the registration written (EdgePut) or the last one before
	// the deletion (EdgeDeleted); nil for other kinds.
	Edge *EdgeInfo
	// Stream is the claim written (StreamPut) or the last one before the
	// deletion (StreamDeleted); nil for other kinds.
	Stream *StreamInfo
	// Revision is the revision of the change; for Compacted, the oldest
	// revision still available.
	Revision int64
}

// Watch delivers the changes of edges and streams, in revision order,
// from fromRevision on; 0 means the changes made after the call (Watch
// then reads the current revision first, bounded by ctx). The channel is
// closed when ctx ends, or after a Compacted event when the history from
// the next revision to deliver has been compacted. A watch that breaks
// (connection lost, etcd restarted, leader lost) is established again
// from the revision after the last one delivered, so nothing is missed or
// repeated. The consumer must keep reading until the channel closes or
// ctx ends.
func Watch(ctx context.Context, cli *clientv3.Client, prefix string, fromRevision int64) (<-chan Event, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	if fromRevision < 0 {
		return nil, fmt.Errorf("cluster: watch from revision %d: negative", fromRevision)
	}
	if fromRevision == 0 {
		// Pin "now" to a revision, so that the changes after this call
		// are delivered, and a watch established again later resumes
		// from there instead of from its own now.
		resp, err := cli.Get(ctx, rootKey(prefix), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return nil, fmt.Errorf("cluster: watch: read the current revision: %w", err)
		}
		fromRevision = resp.Header.Revision + 1
	}
	ch := make(chan Event)
	go watchLoop(ctx, cli, prefix, fromRevision, ch)
	return ch, nil
}

// watchLoop runs Watch's watch until ctx ends.
func watchLoop(ctx context.Context, cli *clientv3.Client, prefix string, next int64, ch chan<- Event) {
	defer close(ch)
	root := rootKey(prefix)
	var delay time.Duration
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		delay = min(max(2*delay, minWatchRetry), maxWatchRetry)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := cli.Watch(wctx, root, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(next))
		done := false
		for resp := range wch {
			if resp.CompactRevision != 0 {
				select {
				case ch <- Event{Kind: Compacted, Revision: resp.CompactRevision}:
				case <-ctx.Done():
				}
				cancel()
				return
			}
			if resp.Err() != nil {
				break
			}
			delay = 0
			for _, ev := range resp.Events {
				next = ev.Kv.ModRevision + 1
				e, ok := toEvent(prefix, ev)
				if !ok {
					continue
				}
				select {
				case ch <- e:
				case <-ctx.Done():
					done = true
				}
				if done {
					break
				}
			}
			if done {
				break
			}
		}
		cancel()
		if done || ctx.Err() != nil {
			return
		}
	}
}

// toEvent converts an etcd event of a key under the prefix; it reports
// false for keys that are neither edge nor stream keys.
func toEvent(prefix string, ev *clientv3.Event) (Event, bool) {
	e := Event{Revision: ev.Kv.ModRevision}
	kv := ev.Kv
	del := ev.Type == mvccpb.DELETE
	if del && ev.PrevKv != nil {
		kv = ev.PrevKv
	}
	switch key := string(ev.Kv.Key); {
	case strings.HasPrefix(key, edgesKey(prefix)):
		info, err := decodeEdge(prefix, kv)
		if err != nil {
			return e, false
		}
		e.Kind, e.Edge = EdgePut, &info
		if del {
			e.Kind = EdgeDeleted
		}
	case strings.HasPrefix(key, streamsKey(prefix)):
		info, err := decodeStream(prefix, kv)
		if err != nil {
			return e, false
		}
		e.Kind, e.Stream = StreamPut, &info
		if del {
			e.Kind = StreamDeleted
		}
	default:
		return e, false
	}
	return e, true
}
