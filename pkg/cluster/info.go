package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Load is what an edge reports about its current work.
type Load struct {
	// Sessions is the number of open RTMP connections.
	Sessions int `json:"sessions"`
	// Publishers is the number of streams being published on the edge.
	Publishers int `json:"publishers"`
	// Players is the number of players being served.
	Players int `json:"players"`
	// BitsIn is the ingest rate, in bits per second.
	BitsIn float64 `json:"bits_in"`
	// BitsOut is the egress rate, in bits per second.
	BitsOut float64 `json:"bits_out"`
}

// EdgeInfo is an edge's registration, the JSON value of its key.
type EdgeInfo struct {
	// ID names the edge, unique in the cluster.
	ID string `json:"id"`
	// Address is where the edge serves RTMP, "host:port".
	Address string `json:"address"`
	// Version is the edge's software version.
	Version string `json:"version,omitempty"`
	// Started is when the edge process started.
	Started time.Time `json:"started,omitzero"`
	// Draining is true while the edge is shutting down and moving its
	// encoders elsewhere: it accepts no new publishes.
	Draining bool `json:"draining"`
	// Load is the edge's current work.
	Load Load `json:"load"`

	// ModRevision is the etcd revision of the last write of the key, as
	// read; it is not stored in the value.
	ModRevision int64 `json:"-"`
	// Lease is the lease the key is attached to, as read; it is not stored
	// in the value.
	Lease clientv3.LeaseID `json:"-"`
}

// StreamInfo is a stream's claim, the JSON value of its key.
type StreamInfo struct {
	// App and Name are the RTMP application and stream name. The key is
	// authoritative: values read always carry the names the key spells.
	App  string `json:"app"`
	Name string `json:"name"`
	// Edge is the id of the owning edge.
	Edge string `json:"edge"`
	// Epoch is the claim's fencing token: the etcd revision at which the
	// claim was won. The value holds it once the owner has rewritten the
	// key (Touch); until then it is absent and the key's ModRevision is
	// the epoch. Values read always carry the epoch.
	Epoch uint64 `json:"epoch,omitempty"`
	// Remote is the publishing encoder's address.
	Remote string `json:"remote,omitempty"`
	// Started is when the claim was won.
	Started time.Time `json:"started,omitzero"`
	// Active is when the owner last recorded media flowing (Touch); it
	// starts equal to Started.
	Active time.Time `json:"active,omitzero"`

	// ModRevision is the etcd revision of the last write of the key, as
	// read; Takeover and DeleteStream compare it. It is not stored in the
	// value.
	ModRevision int64 `json:"-"`
	// Lease is the owner's lease, as read; it is not stored in the value.
	Lease clientv3.LeaseID `json:"-"`
}

// decodeStream turns a stream key-value into a StreamInfo. It fails only
// when the key is not a stream key under prefix. A value that does not
// decode (written by another program) leaves the fields it would have set
// zero: the names come from the key and the epoch from the key's revision.
func decodeStream(prefix string, kv *mvccpb.KeyValue) (StreamInfo, error) {
	app, name, err := ParseStreamKey(prefix, string(kv.Key))
	if err != nil {
		return StreamInfo{}, err
	}
	var info StreamInfo
	if json.Unmarshal(kv.Value, &info) != nil {
		info = StreamInfo{}
	}
	info.App, info.Name = app, name
	info.ModRevision = kv.ModRevision
	info.Lease = clientv3.LeaseID(kv.Lease)
	if info.Epoch == 0 {
		info.Epoch = uint64(kv.ModRevision)
	}
	return info, nil
}

// decodeEdge turns an edge key-value into an EdgeInfo, like decodeStream.
func decodeEdge(prefix string, kv *mvccpb.KeyValue) (EdgeInfo, error) {
	id, err := ParseEdgeKey(prefix, string(kv.Key))
	if err != nil {
		return EdgeInfo{}, err
	}
	var info EdgeInfo
	if json.Unmarshal(kv.Value, &info) != nil {
		info = EdgeInfo{}
	}
	info.ID = id
	info.ModRevision = kv.ModRevision
	info.Lease = clientv3.LeaseID(kv.Lease)
	return info, nil
}

// encode marshals a value for etcd; the types here always marshal.
func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cluster: encode %T: %w", v, err)
	}
	return string(b), nil
}
