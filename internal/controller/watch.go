package controller

import (
	"context"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// watchBatch is the changes of edges and streams of one or more whole
// revisions: the leader never sees half a revision (an edge's lease
// revoked deletes its registration and its claims in one revision), so its
// events cursor always names a revision it has fully applied.
type watchBatch struct {
	// events are the changes, in revision order; there may be none when
	// only other keys under the prefix changed.
	events []cluster.Event
	// rev is the last revision the batch completes.
	rev int64
	// compacted means the history from the next revision to deliver is
	// gone: the state must be read again. It is the last batch.
	compacted bool
}

// watchCluster delivers the changes under the prefix from revision from
// on, in whole revisions. A watch that breaks is established again from
// the revision after the last one delivered. The channel is closed when ctx
// ends or after a compacted batch.
func (c *Controller) watchCluster(ctx context.Context, from int64) <-chan watchBatch {
	ch := make(chan watchBatch)
	go func() {
		defer close(ch)
		cli, prefix := c.cfg.Etcd, c.cfg.Prefix
		next := from
		var retry backoff
		for ctx.Err() == nil {
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := cli.Watch(wctx, "/"+prefix+"/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(next))
			for resp := range wch {
				if resp.CompactRevision != 0 {
					cancel()
					select {
					case ch <- watchBatch{compacted: true, rev: resp.CompactRevision}:
					case <-ctx.Done():
					}
					return
				}
				if resp.Err() != nil {
					break
				}
				if len(resp.Events) == 0 {
					continue
				}
				retry.reset()
				var b watchBatch
				for _, ev := range resp.Events {
					next = ev.Kv.ModRevision + 1
					if e, ok := toEvent(prefix, ev); ok {
						b.events = append(b.events, e)
					}
				}
				b.rev = next - 1
				select {
				case ch <- b:
				case <-ctx.Done():
					cancel()
					return
				}
			}
			cancel()
			retry.wait(ctx)
		}
	}()
	return ch
}

// toEvent converts an etcd event of an edge or stream key; it reports
// false for other keys.
func toEvent(prefix string, ev *clientv3.Event) (cluster.Event, bool) {
	e := cluster.Event{Revision: ev.Kv.ModRevision}
	del := ev.Type == mvccpb.DELETE
	kv := ev.Kv
	if del && ev.PrevKv != nil {
		kv = ev.PrevKv
	}
	switch key := string(ev.Kv.Key); {
	case strings.HasPrefix(key, edgesDir(prefix)):
		info, ok := decodeEdge(prefix, kv)
		if !ok {
			return e, false
		}
		e.Kind, e.Edge = cluster.EdgePut, &info
		if del {
			e.Kind = cluster.EdgeDeleted
		}
	case strings.HasPrefix(key, streamsDir(prefix)):
		info, ok := decodeStream(prefix, kv)
		if !ok {
			return e, false
		}
		e.Kind, e.Stream = cluster.StreamPut, &info
		if del {
			e.Kind = cluster.StreamDeleted
		}
	default:
		return e, false
	}
	return e, true
}
