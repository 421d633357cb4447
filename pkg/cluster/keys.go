package cluster

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultPrefix is the key prefix used when a prefix is empty.
const DefaultPrefix = "tributary"

// emptySegment is the key segment of an empty application, stream or edge
// name. url.PathEscape never produces a lone "%" (it writes '%' only as the
// start of a "%XX" escape), so the form cannot be confused with the escape
// of any non-empty string.
const emptySegment = "%"

// CheckPrefix reports whether prefix can be used as the first segment of
// the cluster's keys: one or more ASCII letters, digits, '_' or '-'. The
// empty prefix is accepted and means DefaultPrefix.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("cluster: prefix %q: byte %q at offset %d is not one of [A-Za-z0-9_-]", prefix, c, i)
		}
	}
	return nil
}

// orDefault returns prefix, or DefaultPrefix when prefix is empty.
func orDefault(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	return prefix
}

// rootKey returns "/<prefix>/", the start of every key of the cluster.
func rootKey(prefix string) string { return "/" + orDefault(prefix) + "/" }

// edgesKey returns "/<prefix>/edges/", the start of every edge key.
func edgesKey(prefix string) string { return rootKey(prefix) + "edges/" }

// streamsKey returns "/<prefix>/streams/", the start of every stream key.
func streamsKey(prefix string) string { return rootKey(prefix) + "streams/" }

// EscapeSegment escapes an arbitrary string (an RTMP application or stream
// name, an edge id) into one key segment: url.PathEscape, which leaves
// ASCII letters, digits and "-._~$&+:=@" as they are and writes every other
// byte (among them '/', '%' and the bytes of non-ASCII characters) as "%XX"
// with upper-case hex digits; the empty string becomes "%". The result never
// contains '/' and UnescapeSegment inverts it exactly, for any byte string.
func EscapeSegment(s string) string {
	if s == "" {
		return emptySegment
	}
	return url.PathEscape(s)
}

// UnescapeSegment inverts EscapeSegment. It accepts only the canonical form
// EscapeSegment produces (upper-case hex, no needless escapes), so every
// name has exactly one key.
func UnescapeSegment(seg string) (string, error) {
	if seg == emptySegment {
		return "", nil
	}
	if seg == "" {
		return "", fmt.Errorf("cluster: empty key segment")
	}
	s, err := url.PathUnescape(seg)
	if err != nil {
		return "", fmt.Errorf("cluster: key segment %q: %w", seg, err)
	}
	if url.PathEscape(s) != seg {
		return "", fmt.Errorf("cluster: key segment %q is not in canonical form (want %q)", seg, url.PathEscape(s))
	}
	return s, nil
}

// EdgeKey returns the key of an edge's registration,
// "/<prefix>/edges/<escaped id>". An empty prefix means DefaultPrefix; the
// prefix is not checked here (see CheckPrefix).
func EdgeKey(prefix, id string) string {
	return edgesKey(prefix) + EscapeSegment(id)
}

// StreamKey returns the key of a stream's claim,
// "/<prefix>/streams/<escaped app>/<escaped name>". An empty prefix means
// DefaultPrefix; the prefix is not checked here (see CheckPrefix).
func StreamKey(prefix, app, name string) string {
	return streamsKey(prefix) + EscapeSegment(app) + "/" + EscapeSegment(name)
}

// ParseStreamKey returns the application and stream name of a key made by
// StreamKey with the same prefix. It fails for any other key.
func ParseStreamKey(prefix, key string) (app, name string, err error) {
	rest, ok := strings.CutPrefix(key, streamsKey(prefix))
	if !ok {
		return "", "", fmt.Errorf("cluster: key %q is not under %q", key, streamsKey(prefix))
	}
	a, n, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(n, "/") {
		return "", "", fmt.Errorf("cluster: key %q: want two segments after %q", key, streamsKey(prefix))
	}
	if app, err = UnescapeSegment(a); err != nil {
		return "", "", fmt.Errorf("cluster: key %q: application: %w", key, err)
	}
	if name, err = UnescapeSegment(n); err != nil {
		return "", "", fmt.Errorf("cluster: key %q: stream name: %w", key, err)
	}
	return app, name, nil
}

// ParseEdgeKey returns the edge id of a key made by EdgeKey with the same
// prefix. It fails for any other key.
func ParseEdgeKey(prefix, key string) (string, error) {
	rest, ok := strings.CutPrefix(key, edgesKey(prefix))
	if !ok {
		return "", fmt.Errorf("cluster: key %q is not under %q", key, edgesKey(prefix))
	}
	if strings.Contains(rest, "/") {
		return "", fmt.Errorf("cluster: key %q: want one segment after %q", key, edgesKey(prefix))
	}
	id, err := UnescapeSegment(rest)
	if err != nil {
		return "", fmt.Errorf("cluster: key %q: edge id: %w", key, err)
	}
	return id, nil
}
