package cluster_test

import (
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// keyCases are names and the keys they get under the prefix "p".
var keyCases = []struct {
	app, name, key string
}{
	{"live", "cam1", "/p/streams/live/cam1"},
	{"", "", "/p/streams/%/%"},
	{"live", "", "/p/streams/live/%"},
	{"a/b", "c/d/", "/p/streams/a%2Fb/c%2Fd%2F"},
	{"%", "%25", "/p/streams/%25/%2525"},
	{"with space", "ünï 🎥", "/p/streams/with%20space/%C3%BCn%C3%AF%20%F0%9F%8E%A5"},
	{".", "..", "/p/streams/./.."},
	{"~-_.", "$&+:=@", "/p/streams/~-_./$&+:=@"},
	{"?#;,", "\x00\xff", "/p/streams/%3F%23%3B%2C/%00%FF"},
}

func TestStreamKey(t *testing.T) {
	for _, tc := range keyCases {
		if got := cluster.StreamKey("p", tc.app, tc.name); got != tc.key {
			t.Errorf("StreamKey(%q, %q) = %q, want %q", tc.app, tc.name, got, tc.key)
		}
		app, name, err := cluster.ParseStreamKey("p", tc.key)
		if err != nil || app != tc.app || name != tc.name {
			t.Errorf("ParseStreamKey(%q) = %q, %q, %v", tc.key, app, name, err)
		}
	}
	if got := cluster.StreamKey("", "a", "b"); got != "/tributary/streams/a/b" {
		t.Errorf("default prefix: %q", got)
	}
	if got := cluster.EdgeKey("p", "edge 1/x"); got != "/p/edges/edge%201%2Fx" {
		t.Errorf("EdgeKey = %q", got)
	}
	if id, err := cluster.ParseEdgeKey("p", "/p/edges/edge%201%2Fx"); err != nil || id != "edge 1/x" {
		t.Errorf("ParseEdgeKey = %q, %v", id, err)
	}
	for _, bad := range []string{
		"/p/streams/a",          // one segment
		"/p/streams/a/b/c",      // three
		"/p/streams//b",         // empty segment: the empty name is "%"
		"/p/streams/a/%2f",      // lower-case hex
		"/p/streams/a/%41",      // needless escape of 'A'
		"/p/streams/a/%zz",      // bad escape
		"/p/streams/a/%2",       // truncated escape
		"/p/streams/%%/b",       // double percent
		"/p/streams/%20%/b",     // '%' alone inside a segment
		"/p/streams/a/b c",      // unescaped space
		"/p/streams/a/\xc3\xbc", // unescaped UTF-8
		"/p/streams/a/b/",       // trailing slash
		"/q/streams/a/b",        // other prefix
		"/p/edges/a",            // not a stream
		"p/streams/a/b",         // no leading slash
	} {
		if app, name, err := cluster.ParseStreamKey("p", bad); err == nil {
			t.Errorf("ParseStreamKey(%q) = %q, %q, want an error", bad, app, name)
		}
	}
	for _, bad := range []string{"/p/edges/", "/p/edges/a/b", "/p/streams/a", "/p/edges/%41"} {
		if _, err := cluster.ParseEdgeKey("p", bad); err == nil {
			t.Errorf("ParseEdgeKey(%q) accepted", bad)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, ok := range []string{"", "tributary", "a", "A-b_9"} {
		if err := cluster.CheckPrefix(ok); err != nil {
			t.Errorf("CheckPrefix(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a/b", "a.b", " ", "é", "a b", "%"} {
		if err := cluster.CheckPrefix(bad); err == nil || !strings.HasPrefix(err.Error(), "cluster: ") {
			t.Errorf("CheckPrefix(%q) = %v, want an error", bad, err)
		}
	}
}

// FuzzStreamKey checks that every pair of names has a key of exactly two
// segments under the prefix, that the key gives the names back, and that
// every key ParseStreamKey accepts is the key of the names it returns.
func FuzzStreamKey(f *testing.F) {
	for _, tc := range keyCases {
		f.Add(tc.app, tc.name, tc.key)
	}
	f.Add("%", "", "/p/streams/%/%25")
	f.Add("a", "b", "/p/streams/%2f/b")
	f.Fuzz(func(t *testing.T, app, name, key string) {
		k := cluster.StreamKey("p", app, name)
		rest, ok := strings.CutPrefix(k, "/p/streams/")
		if !ok || strings.Count(rest, "/") != 1 {
			t.Fatalf("StreamKey(%q, %q) = %q: not two segments under the prefix", app, name, k)
		}
		segApp, segName, _ := strings.Cut(rest, "/")
		if segApp == "" || segName == "" || (segApp == "%") != (app == "") || (segName == "%") != (name == "") {
			t.Fatalf("StreamKey(%q, %q) = %q: bad segments", app, name, k)
		}
		a, n, err := cluster.ParseStreamKey("p", k)
		if err != nil || a != app || n != name {
			t.Fatalf("ParseStreamKey(StreamKey(%q, %q) = %q) = %q, %q, %v", app, name, k, a, n, err)
		}
		if a, n, err := cluster.ParseStreamKey("p", key); err == nil {
			if again := cluster.StreamKey("p", a, n); again != key {
				t.Fatalf("ParseStreamKey(%q) = %q, %q, whose key is %q", key, a, n, again)
			}
		}
		if id, err := cluster.ParseEdgeKey("p", cluster.EdgeKey("p", app)); err != nil || id != app {
			t.Fatalf("edge id %q: round trip gave %q, %v", app, id, err)
		}
	})
}
