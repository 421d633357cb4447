package telemetry_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

const (
	dashboardFile = "../../charts/tributary/dashboards/tributary.json"
	catalogueFile = "../../docs/observability.md"
)

// catalogue returns the metric families of the catalogue in
// docs/observability.md (the first column of its tables), with their
// types.
func catalogue(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(catalogueFile)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(tributary_[a-z0-9_]+)` \\| ([a-z]+) \\|")
	names := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = m[2]
	}
	if len(names) < 10 {
		t.Fatalf("%s: only %d metrics found in the catalogue tables", catalogueFile, len(names))
	}
	return names
}

// dashboardExprs returns every "expr" and variable query of the dashboard,
// and the dashboard decoded.
func dashboardExprs(t *testing.T) ([]string, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition" || k == "query") {
					exprs = append(exprs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(d)
	return exprs, d
}

// TestDashboardUsesCatalogueMetrics fails when an expression of the
// Grafana dashboard names a tributary_* metric that the catalogue does not
// list (a histogram's _bucket, _sum and _count series included).
func TestDashboardUsesCatalogueMetrics(t *testing.T) {
	cat := catalogue(t)
	exprs, _ := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions in the dashboard", len(exprs))
	}
	metric := regexp.MustCompile(`tributary_[a-zA-Z0-9_:]+`)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metric.FindAllString(e, -1) {
			family := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && cat[base] == "histogram" {
					family = base
				}
			}
			typ, ok := cat[family]
			switch {
			case !ok:
				t.Errorf("the dashboard uses %s, which %s does not list: %s", name, catalogueFile, e)
			case typ == "histogram" && family == name:
				t.Errorf("the dashboard uses the histogram %s without _bucket, _sum or _count: %s", name, e)
			case typ == "counter" && !strings.Contains(e, "rate("+name) && !strings.Contains(e, "increase("+name):
				t.Errorf("the dashboard uses the counter %s other than through rate or increase: %s", name, e)
			}
			used[family] = true
		}
	}
	// The figures operators look for first.
	for _, name := range []string{
		"tributary_edge_received_bytes_total", "tributary_edge_sessions", "tributary_edge_frames_dropped_total",
		"tributary_edge_players_disconnected_slow_total", "tributary_edge_frame_latency_seconds",
		"tributary_edge_time_to_first_frame_seconds", "tributary_controller_leader", "tributary_edge_nats_connected",
		"tributary_edge_cluster_member",
	} {
		if !used[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}

// TestDashboardDatasource checks that the dashboard works on any Grafana
// 11 with a Prometheus data source: a data source variable, no
// hard-coded uid, unique panel ids.
func TestDashboardDatasource(t *testing.T) {
	_, d := dashboardExprs(t)
	if v, _ := d["schemaVersion"].(float64); v < 39 {
		t.Errorf("schemaVersion %v, want 39 or later", d["schemaVersion"])
	}
	if d["uid"] == "" || d["title"] == "" {
		t.Error("the dashboard has no uid or title")
	}
	vars, _ := d["templating"].(map[string]any)["list"].([]any)
	found := false
	for _, v := range vars {
		v := v.(map[string]any)
		if v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource" {
			found = true
		}
	}
	if !found {
		t.Fatal("no Prometheus data source variable named datasource")
	}
	ids := map[float64]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			if ds, ok := v["datasource"].(map[string]any); ok {
				if uid := ds["uid"]; uid != "${datasource}" && uid != "-- Grafana --" {
					t.Errorf("%s: data source uid %v, want ${datasource}", path, uid)
				}
			}
			if ds, ok := v["datasource"].(string); ok {
				t.Errorf("%s: data source %q named, want {type, uid: ${datasource}}", path, ds)
			}
			if _, isPanel := v["gridPos"]; isPanel {
				id, _ := v["id"].(float64)
				if ids[id] {
					t.Errorf("%s: panel id %v used twice", path, id)
				}
				ids[id] = true
				if _, ok := v["targets"]; !ok && v["type"] != "row" {
					t.Errorf("%s (%v): a panel without queries", path, v["title"])
				}
			}
			for k, e := range v {
				walk(e, path+"."+k)
			}
		case []any:
			for _, e := range v {
				walk(e, path+"[]")
			}
		}
	}
	walk(d, "dashboard")
}
