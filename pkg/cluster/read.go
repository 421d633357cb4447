package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// listPage is how many keys one read of a list returns.
const listPage = 500

// GetStream reads the claim of the stream app/name. It reports false when
// the stream has no owner.
func GetStream(ctx context.Context, cli *clientv3.Client, prefix, app, name string) (StreamInfo, bool, error) {
	if err := CheckPrefix(prefix); err != nil {
		return StreamInfo{}, false, err
	}
	resp, err := cli.Get(ctx, StreamKey(prefix, app, name))
	if err != nil {
		return StreamInfo{}, false, fmt.Errorf("cluster: get stream %q/%q: %w", app, name, err)
	}
	if len(resp.Kvs) == 0 {
		return StreamInfo{}, false, nil
	}
	info, err := decodeStream(prefix, resp.Kvs[0])
	if err != nil {
		return StreamInfo{}, false, err
	}
	return info, true, nil
}

// GetEdge reads the registration of the edge id. It reports false when the
// edge is not registered.
func GetEdge(ctx context.Context, cli *clientv3.Client, prefix, id string) (EdgeInfo, bool, error) {
	if err := CheckPrefix(prefix); err != nil {
		return EdgeInfo{}, false, err
	}
	resp, err := cli.Get(ctx, EdgeKey(prefix, id))
	if err != nil {
		return EdgeInfo{}, false, fmt.Errorf("cluster: get edge %q: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return EdgeInfo{}, false, nil
	}
	info, err := decodeEdge(prefix, resp.Kvs[0])
	if err != nil {
		return EdgeInfo{}, false, err
	}
	return info, true, nil
}

// ListStreams reads every claim, in key order, as of one revision, which
// it returns: Watch from that revision plus one misses nothing. Keys under
// the streams prefix that are not stream keys are skipped.
func ListStreams(ctx context.Context, cli *clientv3.Client, prefix string) ([]StreamInfo, int64, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, 0, err
	}
	var out []StreamInfo
	rev, err := list(ctx, cli, streamsKey(prefix), func(kv *mvccpb.KeyValue) {
		if info, err := decodeStream(prefix, kv); err == nil {
			out = append(out, info)
		}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: list streams: %w", err)
	}
	return out, rev, nil
}

// ListEdges reads every edge registration, in key order, as of one
// revision, which it returns, like ListStreams.
func ListEdges(ctx context.Context, cli *clientv3.Client, prefix string) ([]EdgeInfo, int64, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, 0, err
	}
	var out []EdgeInfo
	rev, err := list(ctx, cli, edgesKey(prefix), func(kv *mvccpb.KeyValue) {
		if info, err := decodeEdge(prefix, kv); err == nil {
			out = append(out, info)
		}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: list edges: %w", err)
	}
	return out, rev, nil
}

// list reads every key under dir in pages, all at the revision of the
// first page, and returns that revision.
func list(ctx context.Context, cli *clientv3.Client, dir string, each func(*mvccpb.KeyValue)) (int64, error) {
	end := clientv3.GetPrefixRangeEnd(dir)
	from := dir
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, from, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			each(kv)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// DeleteStream deletes the claim s if the stream's key is still the one
// read (same ModRevision): the controller's reaper and "kick". It reports
// whether it deleted the key. The owner's claim is lost (ErrDeleted).
func DeleteStream(ctx context.Context, cli *clientv3.Client, prefix string, s StreamInfo) (bool, error) {
	if err := CheckPrefix(prefix); err != nil {
		return false, err
	}
	if s.ModRevision <= 0 {
		return false, errors.New("cluster: delete stream: the claim has no mod revision (read it from etcd)")
	}
	key := StreamKey(prefix, s.App, s.Name)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", s.ModRevision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("cluster: delete stream %q/%q: %w", s.App, s.Name, err)
	}
	return resp.Succeeded, nil
}
