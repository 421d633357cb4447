package cluster_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/cluster"
)

func TestLoadJSON(t *testing.T) {
	l := cluster.Load{Sessions: 5, Publishers: 1, Players: 3, BitsIn: 2.5e6, BitsOut: 7.5e6, Streams: map[string]cluster.StreamLoad{
		cluster.StreamLoadKey("live", "cam 1"): {BitsIn: 2.5e6, BitsOut: 2.5e6, Players: 1},
		cluster.StreamLoadKey("live", "a/b"):   {BitsOut: 5e6, Players: 2},
	}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"sessions":5,"publishers":1,"players":3,"bits_in":2500000,"bits_out":7500000,"streams":{` +
		`"live/a%2Fb":{"bits_in":0,"bits_out":5000000,"players":2},` +
		`"live/cam%201":{"bits_in":2500000,"bits_out":2500000,"players":1}}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back cluster.Load
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, l) {
		t.Errorf("round trip: %+v, want %+v", back, l)
	}

	// Without streams, the field is absent: values of edges that do not
	// report streams read back with a nil map.
	b, err = json.Marshal(cluster.Load{Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "streams") {
		t.Errorf("empty load has streams: %s", b)
	}
	back = cluster.Load{}
	if err := json.Unmarshal([]byte(`{"sessions":1,"bits_in":5}`), &back); err != nil || back.Streams != nil || back.BitsIn != 5 {
		t.Errorf("load without streams: %+v, %v", back, err)
	}
}

func TestStreamLoadKey(t *testing.T) {
	for _, tc := range keyCases {
		k := cluster.StreamLoadKey(tc.app, tc.name)
		// The key is the stream's claim key after the streams prefix.
		if want := strings.TrimPrefix(tc.key, "/p/streams/"); k != want {
			t.Errorf("StreamLoadKey(%q, %q) = %q, want %q", tc.app, tc.name, k, want)
		}
		app, name, err := cluster.ParseStreamLoadKey(k)
		if err != nil || app != tc.app || name != tc.name {
			t.Errorf("ParseStreamLoadKey(%q) = %q, %q, %v; want %q, %q", k, app, name, err, tc.app, tc.name)
		}
	}
	for _, bad := range []string{
		"",          // no segment
		"live",      // one segment
		"live/a/b",  // three segments
		"/a",        // empty segment (the empty name is "%")
		"live/",     // empty segment
		"live/%2f",  // lower-case hex
		"%6Cive/a",  // a needless escape
		"live/a b",  // an unescaped space
		"live/%zz",  // not an escape
		"live/\xff", // an unescaped byte
	} {
		if app, name, err := cluster.ParseStreamLoadKey(bad); err == nil {
			t.Errorf("ParseStreamLoadKey(%q) = %q, %q, want an error", bad, app, name)
		} else if !strings.HasPrefix(err.Error(), "cluster: ") {
			t.Errorf("ParseStreamLoadKey(%q): error %q lacks the package prefix", bad, err)
		}
	}
}

// manyStreams returns n stream loads named by name(i); stream i has i%7
// players and i bits in.
func manyStreams(n int, name func(int) string) map[string]cluster.StreamLoad {
	m := make(map[string]cluster.StreamLoad, n)
	for i := range n {
		m[cluster.StreamLoadKey("live", name(i))] = cluster.StreamLoad{BitsIn: float64(i), Players: i % 7}
	}
	return m
}

// checkBusiest checks that got holds only entries of all, and that no
// entry of all left out is busier than one kept.
func checkBusiest(t *testing.T, got, all map[string]cluster.StreamLoad) {
	t.Helper()
	busier := func(a, b cluster.StreamLoad) bool {
		return a.Players > b.Players || a.Players == b.Players && a.BitsIn+a.BitsOut > b.BitsIn+b.BitsOut
	}
	var least *cluster.StreamLoad
	for k, v := range got {
		if w, ok := all[k]; !ok || w != v {
			t.Fatalf("kept %q = %+v, not in the input (%+v, %v)", k, v, w, ok)
		}
		if least == nil || busier(*least, v) {
			least = &v
		}
	}
	for k, v := range all {
		if _, ok := got[k]; !ok && least != nil && busier(v, *least) {
			t.Fatalf("left %q = %+v out but kept %+v", k, v, *least)
		}
	}
}

func TestLoadBounded(t *testing.T) {
	// Within the bounds: the same map.
	small := manyStreams(cluster.MaxStreamLoads, func(i int) string { return fmt.Sprint("s", i) })
	if got := (cluster.Load{Streams: small}).Bounded(); reflect.ValueOf(got.Streams).Pointer() != reflect.ValueOf(small).Pointer() {
		t.Error("a load within the bounds was copied")
	}
	if got := (cluster.Load{Players: 3}).Bounded(); got.Streams != nil || got.Players != 3 {
		t.Errorf("a load without streams: %+v", got)
	}

	// Too many entries: the busiest MaxStreamLoads, the input untouched.
	all := manyStreams(cluster.MaxStreamLoads+500, func(i int) string { return fmt.Sprint("s", i) })
	l := cluster.Load{Sessions: 9, BitsIn: 1e6, Streams: all}
	got := l.Bounded()
	if len(got.Streams) != cluster.MaxStreamLoads || len(all) != cluster.MaxStreamLoads+500 {
		t.Fatalf("bounded to %d entries (input now %d), want %d", len(got.Streams), len(all), cluster.MaxStreamLoads)
	}
	if got.Sessions != 9 || got.BitsIn != 1e6 {
		t.Errorf("the totals changed: %+v", got)
	}
	checkBusiest(t, got.Streams, all)
	if again := got.Bounded(); len(again.Streams) != cluster.MaxStreamLoads {
		t.Errorf("bounding twice: %d entries", len(again.Streams))
	}

	// Long names (the escape of 512 bytes of UTF-8 is 1536 bytes): cut by
	// size, the JSON within MaxStreamLoadBytes.
	long := manyStreams(600, func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("é", 254) })
	got = cluster.Load{Streams: long}.Bounded()
	b, err := json.Marshal(got.Streams)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > cluster.MaxStreamLoadBytes || len(got.Streams) >= len(long) || len(got.Streams) < cluster.MaxStreamLoadBytes/2000 {
		t.Fatalf("bounded to %d entries, %d bytes of JSON (bound %d)", len(got.Streams), len(b), cluster.MaxStreamLoadBytes)
	}
	checkBusiest(t, got.Streams, long)

	// Names whose JSON escapes grow ("&" is written \u0026) count as
	// written.
	amp := manyStreams(600, func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("&", 1000) })
	got = cluster.Load{Streams: amp}.Bounded()
	if b, _ := json.Marshal(got.Streams); len(b) > cluster.MaxStreamLoadBytes {
		t.Fatalf("%d bytes of JSON, bound %d", len(b), cluster.MaxStreamLoadBytes)
	}
}

// TestRegisterEdgeBounded checks that a registration is written with its
// load bounded, and that per-stream figures read back as written.
func TestRegisterEdgeBounded(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	ctx := testCtx(t)
	few := map[string]cluster.StreamLoad{
		cluster.StreamLoadKey("live", "x"):  {BitsIn: 3e6, BitsOut: 6e6, Players: 2},
		cluster.StreamLoadKey("", "ü/ñ"):    {BitsOut: 1e6, Players: 1},
		cluster.StreamLoadKey("live", "in"): {BitsIn: 1.5e6},
	}
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{Address: "a:1935", Load: cluster.Load{Players: 3, Streams: few}}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := cluster.GetEdge(ctx, cli, "test", "a")
	if err != nil || !ok || !reflect.DeepEqual(got.Load.Streams, few) {
		t.Fatalf("GetEdge = %+v, %v, %v; want streams %+v", got.Load, ok, err, few)
	}

	all := manyStreams(cluster.MaxStreamLoads+200, func(i int) string { return fmt.Sprint("s", i) })
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{Address: "a:1935", Load: cluster.Load{Streams: all}}); err != nil {
		t.Fatal(err)
	}
	if len(all) != cluster.MaxStreamLoads+200 {
		t.Fatalf("RegisterEdge changed the caller's map: %d entries", len(all))
	}
	got, _, err = cluster.GetEdge(ctx, cli, "test", "a")
	if err != nil || len(got.Load.Streams) != cluster.MaxStreamLoads {
		t.Fatalf("GetEdge: %d streams, %v; want %d", len(got.Load.Streams), err, cluster.MaxStreamLoads)
	}
	checkBusiest(t, got.Load.Streams, all)
}
