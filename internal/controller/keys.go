package controller

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// The controller's keys, next to pkg/cluster's edges and streams (the
// layout of docs/cluster.md).

// electionPrefix returns the prefix of the leader election's keys,
// "/<prefix>/controller/leader"; each candidate's key is the prefix, a
// slash and its lease id in hex.
func electionPrefix(prefix string) string { return "/" + prefix + "/controller/leader" }

// cursorKey returns the key of the leader's events cursor.
func cursorKey(prefix string) string { return "/" + prefix + "/controller/events" }

// drainKey returns the key through which an edge is asked to drain,
// "/<prefix>/drain/<escaped edge id>".
func drainKey(prefix, edgeID string) string {
	return "/" + prefix + "/drain/" + cluster.EscapeSegment(edgeID)
}

// streamsDir and edgesDir are the key prefixes of claims and of edge
// registrations.
func streamsDir(prefix string) string { return "/" + prefix + "/streams/" }
func edgesDir(prefix string) string   { return "/" + prefix + "/edges/" }

// listPage is how many keys one read of a listing returns.
const listPage = 500

// snapshot is the cluster's state as of one revision.
type snapshot struct {
	rev     int64
	streams []cluster.StreamInfo
	edges   []cluster.EdgeInfo
}

// readSnapshot reads every claim and edge registration as of revision rev,
// or as of now when rev is 0. It fails with an error matching
// rpctypes.ErrCompacted when rev has been compacted.
func readSnapshot(ctx context.Context, cli *clientv3.Client, prefix string, rev int64) (snapshot, error) {
	if rev == 0 {
		resp, err := cli.Get(ctx, "/"+prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return snapshot{}, fmt.Errorf("controller: read the revision: %w", err)
		}
		rev = resp.Header.Revision
	}
	s := snapshot{rev: rev}
	err := listAt(ctx, cli, streamsDir(prefix), rev, func(kv *mvccpb.KeyValue) {
		if info, ok := decodeStream(prefix, kv); ok {
			s.streams = append(s.streams, info)
		}
	})
	if err != nil {
		return snapshot{}, fmt.Errorf("controller: list streams at revision %d: %w", rev, err)
	}
	err = listAt(ctx, cli, edgesDir(prefix), rev, func(kv *mvccpb.KeyValue) {
		if info, ok := decodeEdge(prefix, kv); ok {
			s.edges = append(s.edges, info)
		}
	})
	if err != nil {
		return snapshot{}, fmt.Errorf("controller: list edges at revision %d: %w", rev, err)
	}
	return s, nil
}

// listAt reads every key under dir as of revision rev, in pages.
func listAt(ctx context.Context, cli *clientv3.Client, dir string, rev int64, each func(*mvccpb.KeyValue)) error {
	end := clientv3.GetPrefixRangeEnd(dir)
	from := dir
	for {
		resp, err := cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(listPage), clientv3.WithRev(rev))
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			each(kv)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// decodeStream reads a claim as pkg/cluster does: the key names the
// stream, a value that does not decode leaves the other fields zero, and
// the epoch is the key's revision until the owner has written it.
func decodeStream(prefix string, kv *mvccpb.KeyValue) (cluster.StreamInfo, bool) {
	app, name, err := cluster.ParseStreamKey(prefix, string(kv.Key))
	if err != nil {
		return cluster.StreamInfo{}, false
	}
	var info cluster.StreamInfo
	if json.Unmarshal(kv.Value, &info) != nil {
		info = cluster.StreamInfo{}
	}
	info.App, info.Name = app, name
	info.ModRevision = kv.ModRevision
	info.Lease = clientv3.LeaseID(kv.Lease)
	if info.Epoch == 0 {
		info.Epoch = uint64(kv.ModRevision)
	}
	return info, true
}

// decodeEdge reads an edge registration as pkg/cluster does.
func decodeEdge(prefix string, kv *mvccpb.KeyValue) (cluster.EdgeInfo, bool) {
	id, err := cluster.ParseEdgeKey(prefix, string(kv.Key))
	if err != nil {
		return cluster.EdgeInfo{}, false
	}
	var info cluster.EdgeInfo
	if json.Unmarshal(kv.Value, &info) != nil {
		info = cluster.EdgeInfo{}
	}
	info.ID = id
	info.ModRevision = kv.ModRevision
	info.Lease = clientv3.LeaseID(kv.Lease)
	return info, true
}
