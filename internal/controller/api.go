package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// Timing of the API.
const (
	// requestTimeout bounds the etcd work of one API request.
	requestTimeout = 5 * time.Second
	// readyTimeout bounds the etcd read of /readyz.
	readyTimeout = 2 * time.Second
	// writeAttempts bounds the read-and-compare rounds of kick and drain
	// when the key keeps changing underneath.
	writeAttempts = 5
)

// StreamStatus is a stream in the admin API: its claim and what the edges
// report about it.
type StreamStatus struct {
	// App and Name are the stream's RTMP application and name.
	App  string `json:"app"`
	Name string `json:"name"`
	// Edge is the owning edge.
	Edge string `json:"edge"`
	// Epoch is the claim's epoch.
	Epoch uint64 `json:"epoch"`
	// Remote is the publishing encoder's address.
	Remote string `json:"remote"`
	// Started is when the claim was won; Active when the owner last
	// recorded media flowing. Absent when the claim does not say.
	Started time.Time `json:"started,omitzero"`
	Active  time.Time `json:"active,omitzero"`
	// Bitrate is the stream's ingest rate in bits per second, as the
	// owning edge reports it; null when the owner's registration has no
	// figures for the stream.
	Bitrate *float64 `json:"bitrate"`
	// Players is the number of players per edge id, for the edges that
	// report players of the stream; empty when none does, null when no
	// edge reports figures per stream at all.
	Players map[string]int `json:"players"`
	// BitsOut is the stream's egress rate to players, in bits per second,
	// summed over the edges that report it; null when Players is.
	BitsOut *float64 `json:"bits_out"`
}

// EdgeStatus is an edge in the admin API: its registration.
type EdgeStatus struct {
	// ID names the edge.
	ID string `json:"id"`
	// Address is where the edge serves RTMP.
	Address string `json:"address"`
	// Version is the edge's software version.
	Version string `json:"version"`
	// Started is when the edge process started; absent when unknown.
	Started time.Time `json:"started,omitzero"`
	// Draining is true while the edge moves its encoders elsewhere.
	Draining bool `json:"draining"`
	// Load is the edge's current work, in total and per stream.
	Load cluster.Load `json:"load"`
}

// KickResult is the answer to a kick: the claim deleted.
type KickResult struct {
	App   string `json:"app"`
	Name  string `json:"name"`
	Edge  string `json:"edge"`
	Epoch uint64 `json:"epoch"`
}

// DrainRequest is the value of an edge's drain request key, and the answer
// to a drain.
type DrainRequest struct {
	// Edge is the edge asked to drain; it is not stored in the key.
	Edge string `json:"edge,omitempty"`
	// Requested is when the drain was asked for.
	Requested time.Time `json:"requested"`
	// By is the id of the controller replica that wrote the request.
	By string `json:"by"`
}

// LeaderStatus is the answer of the leader endpoint.
type LeaderStatus struct {
	// ID is the leader's id; null when no replica leads.
	ID *string `json:"id"`
	// IsLeader says whether the replica that answers leads.
	IsLeader bool `json:"is_leader"`
	// Replica is the id of the replica that answers.
	Replica string `json:"replica"`
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// Handler returns the admin API and the health endpoints:
//
//	GET  /healthz                              the process is alive
//	GET  /readyz                               etcd answers and NATS is connected
//	GET  /api/v1/streams[?app=A][&edge=E]      every stream
//	GET  /api/v1/streams/{app}/{name}          one stream
//	POST /api/v1/streams/{app}/{name}/kick[?epoch=N]
//	GET  /api/v1/edges                         every edge
//	GET  /api/v1/edges/{id}                    one edge
//	POST /api/v1/edges/{id}/drain
//	GET  /api/v1/leader                        the current leader
//
// Path segments are percent-escaped names (any byte string; "/" as %2F,
// the empty name as an empty segment). Answers are JSON; errors are
// {"error": "..."} with a 4xx or 5xx status. Every replica serves all of
// it: reads and writes go to etcd.
//
// Each request but the health endpoints' is traced: a server span named
// "<METHOD> <route>" (such as "POST /api/v1/streams/{app}/{name}/kick"),
// in the trace of the W3C traceparent header the request carries, if any.
func (c *Controller) Handler() http.Handler {
	return http.HandlerFunc(c.serveTraced)
}

// Routes of the admin API, as spans name them.
const (
	routeHealthz = "/healthz"
	routeReadyz  = "/readyz"
	routeStreams = "/api/v1/streams"
	routeStream  = "/api/v1/streams/{app}/{name}"
	routeKick    = "/api/v1/streams/{app}/{name}/kick"
	routeEdges   = "/api/v1/edges"
	routeEdge    = "/api/v1/edges/{id}"
	routeDrain   = "/api/v1/edges/{id}/drain"
	routeLeader  = "/api/v1/leader"
)

// serveHTTP routes a request and returns its route, "" for a path that
// names no endpoint. It does not use http.ServeMux, which would clean
// paths: "//" is an empty stream name here, not a redirect.
func (c *Controller) serveHTTP(w http.ResponseWriter, r *http.Request) string {
	raw := r.URL.EscapedPath()
	switch raw {
	case routeHealthz:
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
		return routeHealthz
	case routeReadyz:
		if allow(w, r, http.MethodGet) {
			c.serveReady(w, r)
		}
		return routeReadyz
	}
	rest, ok := strings.CutPrefix(raw, "/api/v1/")
	if !ok {
		writeError(w, http.StatusNotFound, "no such endpoint: %s", raw)
		return ""
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad path segment %q: %v", s, err)
			return ""
		}
		segs[i] = u
	}
	switch {
	case len(segs) == 1 && segs[0] == "streams":
		if allow(w, r, http.MethodGet) {
			c.serveStreams(w, r)
		}
		return routeStreams
	case len(segs) == 3 && segs[0] == "streams":
		if allow(w, r, http.MethodGet) {
			c.serveStream(w, r, segs[1], segs[2])
		}
		return routeStream
	case len(segs) == 4 && segs[0] == "streams" && segs[3] == "kick":
		if allow(w, r, http.MethodPost) {
			c.serveKick(w, r, segs[1], segs[2])
		}
		return routeKick
	case len(segs) == 1 && segs[0] == "edges":
		if allow(w, r, http.MethodGet) {
			c.serveEdges(w, r)
		}
		return routeEdges
	case len(segs) == 2 && segs[0] == "edges":
		if allow(w, r, http.MethodGet) {
			c.serveEdge(w, r, segs[1])
		}
		return routeEdge
	case len(segs) == 3 && segs[0] == "edges" && segs[2] == "drain":
		if allow(w, r, http.MethodPost) {
			c.serveDrain(w, r, segs[1])
		}
		return routeDrain
	case len(segs) == 1 && segs[0] == "leader":
		if allow(w, r, http.MethodGet) {
			c.serveLeader(w, r)
		}
		return routeLeader
	}
	writeError(w, http.StatusNotFound, "no such endpoint: %s", raw)
	return ""
}

// serveReady answers /readyz.
func (c *Controller) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not ready: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// serveStreams answers GET /api/v1/streams, optionally filtered by app
// and edge.
func (c *Controller) serveStreams(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	streams, _, err := cluster.ListStreams(ctx, c.cfg.Etcd, c.cfg.Prefix)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	edges, _, err := cluster.ListEdges(ctx, c.cfg.Etcd, c.cfg.Prefix)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	q := r.URL.Query()
	out := make([]StreamStatus, 0, len(streams))
	for _, s := range streams {
		if q.Has("app") && s.App != q.Get("app") || q.Has("edge") && s.Edge != q.Get("edge") {
			continue
		}
		out = append(out, streamStatus(s, edges))
	}
	writeJSON(w, http.StatusOK, out)
}

// serveStream answers GET /api/v1/streams/{app}/{name}.
func (c *Controller) serveStream(w http.ResponseWriter, r *http.Request, app, name string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	s, found, err := cluster.GetStream(ctx, c.cfg.Etcd, c.cfg.Prefix, app, name)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "no stream %q/%q", app, name)
		return
	}
	edges, _, err := cluster.ListEdges(ctx, c.cfg.Etcd, c.cfg.Prefix)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, streamStatus(s, edges))
}

// streamStatus describes claim s with the figures the registered edges
// report for it: the bitrate the owner reports (the registration of the
// claim's lease, so not a later incarnation of the owning edge), and the
// players and egress of every edge. Edges report at most
// cluster.MaxStreamLoads streams, the busiest, so a stream an edge leaves
// out counts as no players there.
func streamStatus(s cluster.StreamInfo, edges []cluster.EdgeInfo) StreamStatus {
	st := StreamStatus{
		App: s.App, Name: s.Name, Edge: s.Edge, Epoch: s.Epoch, Remote: s.Remote,
		Started: s.Started.UTC(), Active: s.Active.UTC(),
	}
	key := cluster.StreamLoadKey(s.App, s.Name)
	var bitsOut float64
	for _, e := range edges {
		if len(e.Load.Streams) == 0 {
			continue
		}
		if st.Players == nil {
			st.Players = map[string]int{}
		}
		sl, ok := e.Load.Streams[key]
		if !ok {
			continue
		}
		if e.ID == s.Edge && e.Lease == s.Lease {
			bitrate := sl.BitsIn
			st.Bitrate = &bitrate
		}
		if sl.Players > 0 {
			st.Players[e.ID] = sl.Players
		}
		bitsOut += sl.BitsOut
	}
	if st.Players != nil {
		st.BitsOut = &bitsOut
	}
	return st
}

// serveKick answers POST /api/v1/streams/{app}/{name}/kick: it deletes the
// stream's claim (only the claim of epoch N with ?epoch=N), so that the
// owning edge closes the publisher.
func (c *Controller) serveKick(w http.ResponseWriter, r *http.Request, app, name string) {
	var want uint64
	if q := r.URL.Query(); q.Has("epoch") {
		v, err := strconv.ParseUint(q.Get("epoch"), 10, 64)
		if err != nil || v == 0 {
			writeError(w, http.StatusBadRequest, "bad epoch %q: want a positive integer", q.Get("epoch"))
			return
		}
		want = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	for range writeAttempts {
		s, found, err := cluster.GetStream(ctx, c.cfg.Etcd, c.cfg.Prefix, app, name)
		if err != nil {
			writeEtcdError(w, err)
			return
		}
		if !found {
			writeError(w, http.StatusNotFound, "no stream %q/%q", app, name)
			return
		}
		if want != 0 && s.Epoch != want {
			writeError(w, http.StatusConflict, "stream %q/%q is at epoch %d, not %d", app, name, s.Epoch, want)
			return
		}
		// The owner's Touch rewrites the key every few seconds: delete
		// what was read, or read again.
		deleted, err := cluster.DeleteStream(ctx, c.cfg.Etcd, c.cfg.Prefix, s)
		if err != nil {
			writeEtcdError(w, err)
			return
		}
		if deleted {
			c.reqLog(ctx).Info("kicked a publisher", "app", app, "name", name, "edge", s.Edge, "epoch", s.Epoch, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusAccepted, KickResult{App: app, Name: name, Edge: s.Edge, Epoch: s.Epoch})
			return
		}
	}
	writeError(w, http.StatusConflict, "stream %q/%q kept changing; try again", app, name)
}

// serveEdges answers GET /api/v1/edges.
func (c *Controller) serveEdges(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	edges, _, err := cluster.ListEdges(ctx, c.cfg.Etcd, c.cfg.Prefix)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	out := make([]EdgeStatus, 0, len(edges))
	for _, e := range edges {
		out = append(out, edgeStatus(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// serveEdge answers GET /api/v1/edges/{id}.
func (c *Controller) serveEdge(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	e, found, err := cluster.GetEdge(ctx, c.cfg.Etcd, c.cfg.Prefix, id)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "no edge %q", id)
		return
	}
	writeJSON(w, http.StatusOK, edgeStatus(e))
}

// edgeStatus describes an edge registration.
func edgeStatus(e cluster.EdgeInfo) EdgeStatus {
	return EdgeStatus{ID: e.ID, Address: e.Address, Version: e.Version, Started: e.Started.UTC(), Draining: e.Draining, Load: e.Load}
}

// serveDrain answers POST /api/v1/edges/{id}/drain: it writes the edge's
// drain request key under the edge's own lease, so that the request
// concerns this incarnation of the edge only and disappears with it.
func (c *Controller) serveDrain(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	cli, prefix := c.cfg.Etcd, c.cfg.Prefix
	for range writeAttempts {
		e, found, err := cluster.GetEdge(ctx, cli, prefix, id)
		if err != nil {
			writeEtcdError(w, err)
			return
		}
		if !found {
			writeError(w, http.StatusNotFound, "no edge %q", id)
			return
		}
		req := DrainRequest{Requested: c.cfg.Now().UTC(), By: c.cfg.ID}
		val, err := json.Marshal(req)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "encode the drain request: %v", err)
			return
		}
		var opts []clientv3.OpOption
		if e.Lease != clientv3.NoLease {
			opts = append(opts, clientv3.WithLease(e.Lease))
		}
		key := cluster.EdgeKey(prefix, id)
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0),
				clientv3.Compare(clientv3.LeaseValue(key), "=", int64(e.Lease))).
			Then(clientv3.OpPut(drainKey(prefix, id), string(val), opts...)).
			Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			continue // the edge's lease ended meanwhile: read again
		}
		if err != nil {
			writeEtcdError(w, fmt.Errorf("controller: write the drain request of %q: %w", id, err))
			return
		}
		if resp.Succeeded {
			c.reqLog(ctx).Info("asked an edge to drain", "edge", id, "remote", r.RemoteAddr)
			req.Edge = id
			writeJSON(w, http.StatusAccepted, req)
			return
		}
	}
	writeError(w, http.StatusConflict, "edge %q kept changing; try again", id)
}

// serveLeader answers GET /api/v1/leader.
func (c *Controller) serveLeader(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	id, ok, err := c.Leader(ctx)
	if err != nil {
		writeEtcdError(w, err)
		return
	}
	st := LeaderStatus{IsLeader: c.IsLeader(), Replica: c.cfg.ID}
	if ok {
		st.ID = &id
	}
	writeJSON(w, http.StatusOK, st)
}

// allow reports whether r's method is method (HEAD counts as GET), and
// answers 405 otherwise.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	allowed := method
	if method == http.MethodGet {
		allowed += ", " + http.MethodHead
	}
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, "method %s not allowed; use %s", r.Method, method)
	return false
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError writes an error answer.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...)})
}

// writeEtcdError answers a failed etcd request: the cluster state is
// unavailable.
func writeEtcdError(w http.ResponseWriter, err error) {
	writeError(w, http.StatusServiceUnavailable, "cluster state unavailable: %v", err)
}
