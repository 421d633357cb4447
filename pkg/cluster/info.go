package cluster

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
	// Streams is the work per stream, keyed by StreamLoadKey: every stream
	// published on the edge or played from it, up to the bounds of
	// Bounded. Absent when the edge has no stream, or does not report
	// them.
	Streams map[string]StreamLoad `json:"streams,omitempty"`
}

// StreamLoad is what an edge reports about one stream.
type StreamLoad struct {
	// BitsIn is the ingest rate of the stream when it is published on
	// this edge, in bits per second; 0 otherwise.
	BitsIn float64 `json:"bits_in"`
	// BitsOut is the egress rate of the stream to this edge's players, in
	// bits per second.
	BitsOut float64 `json:"bits_out"`
	// Players is the number of this edge's players of the stream.
	Players int `json:"players"`
}

// Bounds of Load.Streams in a registration: the value of an edge key
// stays far below etcd's default request limit (1.5 MiB) whatever the
// number of streams and the length of their names.
const (
	// MaxStreamLoads is the most entries of Load.Streams a registration
	// holds.
	MaxStreamLoads = 1000
	// MaxStreamLoadBytes is the most bytes the entries of Load.Streams
	// take in a registration's JSON.
	MaxStreamLoadBytes = 512 << 10
)

// maxStreamLoadValueBytes is the most bytes a StreamLoad takes in JSON:
// 35 bytes of names and punctuation, two float64 of at most 25 bytes each
// and an int of at most 20 bytes.
const maxStreamLoadValueBytes = 105

// Bounded returns l with Streams cut to the busiest streams that fit
// MaxStreamLoads entries and MaxStreamLoadBytes bytes of JSON: the
// streams with the most players first, then those with the most bits in
// and out, then in key order. A cut Load has a new Streams map; l's map
// is never changed. Session.RegisterEdge writes bounded loads.
func (l Load) Bounded() Load {
	if len(l.Streams) == 0 {
		return l
	}
	size := 0
	for k := range l.Streams {
		size += streamLoadBytes(k)
	}
	if len(l.Streams) <= MaxStreamLoads && size <= MaxStreamLoadBytes {
		return l
	}
	keys := make([]string, 0, len(l.Streams))
	for k := range l.Streams {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, y := l.Streams[a], l.Streams[b]
		if c := cmp.Compare(y.Players, x.Players); c != 0 {
			return c
		}
		if c := cmp.Compare(y.BitsIn+y.BitsOut, x.BitsIn+x.BitsOut); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	kept := make(map[string]StreamLoad, min(len(keys), MaxStreamLoads))
	size = 0
	for _, k := range keys {
		n := streamLoadBytes(k)
		if len(kept) == MaxStreamLoads || size+n > MaxStreamLoadBytes {
			break
		}
		kept[k] = l.Streams[k]
		size += n
	}
	l.Streams = kept
	return l
}

// streamLoadBytes returns the most bytes the entry of key k takes in the
// JSON of Load.Streams: the quoted key, a colon, the value and a comma.
func streamLoadBytes(k string) int {
	q, _ := json.Marshal(k) // a string always marshals
	return len(q) + 1 + maxStreamLoadValueBytes + 1
}

// StreamLoadKey returns the key of a stream in Load.Streams:
// "<escaped app>/<escaped name>", each part escaped by EscapeSegment, as
// in the stream's claim key.
func StreamLoadKey(app, name string) string {
	return EscapeSegment(app) + "/" + EscapeSegment(name)
}

// ParseStreamLoadKey returns the application and stream name of a key made
// by StreamLoadKey. It fails for any other string.
func ParseStreamLoadKey(k string) (app, name string, err error) {
	a, n, ok := strings.Cut(k, "/")
	if !ok || strings.Contains(n, "/") {
		return "", "", fmt.Errorf("cluster: stream load key %q: want two segments", k)
	}
	if app, err = UnescapeSegment(a); err != nil {
		return "", "", fmt.Errorf("cluster: stream load key %q: application: %w", k, err)
	}
	if name, err = UnescapeSegment(n); err != nil {
		return "", "", fmt.Errorf("cluster: stream load key %q: stream name: %w", k, err)
	}
	return app, name, nil
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

// encode marshals a value for etcd; the types here always marshal. An
// edge registration is written with its load bounded (Load.Bounded).
func encode(v any) (string, error) {
	if info, ok := v.(EdgeInfo); ok {
		info.Load = info.Load.Bounded()
		v = info
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cluster: encode %T: %w", v, err)
	}
	return string(b), nil
}
