package edge

import (
	"context"
	"errors"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/auth"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// maxAuthRefusals is how many publishes and plays one connection may have
// refused by the auth rules before it is closed, so that a client cannot
// try stream keys one after another on one connection.
const maxAuthRefusals = 3

// errAuthRefusals ends a connection that had maxAuthRefusals refusals.
var errAuthRefusals = errors.New("edge: too many requests refused by the auth rules")

// The span of an authorization and its attributes (docs/observability.md).
const (
	spanAuth       = "auth.authorize"
	keyAuthAction  = attribute.Key("tributary.auth.action")
	keyAuthMethods = attribute.Key("tributary.auth.methods")
	keyAuthResult  = attribute.Key("tributary.auth.result")
)

// descAuth describes tributary_edge_auth_total.
var descAuth = prometheus.NewDesc("tributary_edge_auth_total",
	"Publish and play authorizations by action (publish, play), method (key, token, webhook, deny) and result "+
		"(allowed, denied, error: the webhook did not answer in time, or failed).",
	[]string{"action", "method", "result"}, nil)

// collectAuth exports the counters of the edge's authorizer.
func (e *Edge) collectAuth(ch chan<- prometheus.Metric) {
	for _, c := range e.cfg.Auth.Counts() {
		ch <- prometheus.MustNewConstMetric(descAuth, prometheus.CounterValue, float64(c.N), c.Action, c.Method, c.Result)
	}
}

// streamAttrs returns the attributes that name the stream key of a
// publish or play span: none while the name may be a secret.
func streamAttrs(key StreamKey, secret bool) []attribute.KeyValue {
	if secret {
		return nil
	}
	return []attribute.KeyValue{keyRTMPStream.String(key.Name), keyStream.String(key.String())}
}

// authorize asks the edge's auth rules about action on name (without its
// query string) in the session's application. query holds the stream
// name's parameters; those of the connect URL are added for the names it
// does not have. When a rule applies, the decision has a span of its own,
// which names no stream.
func (s *session) authorize(ctx context.Context, action auth.Action, name string, query url.Values) auth.Decision {
	a := s.e.cfg.Auth
	if !a.Applies(s.app, action) {
		return auth.Decision{Allowed: true, Name: name}
	}
	q := url.Values{}
	if cr := s.conn.ConnectRequest(); cr != nil {
		for k, vs := range cr.Query {
			q[k] = vs
		}
	}
	for k, vs := range query {
		q[k] = vs
	}
	ctx, span := s.e.tr.Start(ctx, spanAuth, trace.WithAttributes(keyAuthAction.String(action.String())))
	d := a.Authorize(ctx, auth.Request{Action: action, App: s.app, Stream: name, Query: q, ClientAddr: remoteString(s.conn)})
	result := auth.Allowed
	switch {
	case d.Failed:
		result = auth.Failed
		span.SetStatus(codes.Error, d.Reason)
	case !d.Allowed:
		result = auth.Denied
	}
	span.SetAttributes(keyAuthMethods.String(d.Methods), keyAuthResult.String(result.String()))
	if !d.Allowed {
		span.SetAttributes(keyRejectReason.String(d.Reason))
	}
	span.End()
	return d
}

// authStatus returns the status code and description that refuse a
// request the auth rules did not allow. A refused publish gets
// NetStream.Publish.BadName: OBS (librtmp) and ffmpeg end the publish on
// it and show the description, where NetStream.Publish.BadAuth would
// leave OBS waiting. A refused play gets NetStream.Play.Failed.
func authStatus(action auth.Action, d auth.Decision) (code, desc string) {
	code = rtmp.CodePublishBadName
	if action == auth.Play {
		code = rtmp.CodePlayFailed
	}
	if d.Failed {
		return code, "Not authorized to " + action.String() + " now: " + d.Reason + "; try again."
	}
	return code, "Not authorized to " + action.String() + ": " + d.Reason + "."
}

// authRefused counts a request refused by the auth rules; err is what
// refusing it returned. The connection ends after maxAuthRefusals.
func (s *session) authRefused(err error) error {
	s.authRefusals++
	if err == nil && s.authRefusals >= maxAuthRefusals {
		s.log.Info("closing the connection", "reason", errAuthRefusals.Error())
		return errAuthRefusals
	}
	return err
}
