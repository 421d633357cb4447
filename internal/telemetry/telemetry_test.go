package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-media/tributary/internal/telemetry"
)

func TestHandlerServesRegistry(t *testing.T) {
	reg := telemetry.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)

	srv := httptest.NewServer(telemetry.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "go_memstats_alloc_bytes"} {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
	f := fams["tributary_test_things_total"]
	if f == nil || len(f.Metric) != 1 || f.Metric[0].GetCounter().GetValue() != 3 {
		t.Fatalf("tributary_test_things_total = %v, want one counter at 3", f)
	}
}

func TestRegistryIsPrivate(t *testing.T) {
	a, b := telemetry.NewRegistry(), telemetry.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_test_once_total", Help: "Once."})
	if err := a.Register(c); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(c); err != nil {
		t.Fatalf("a second registry refused a collector of the first: %v", err)
	}
}
