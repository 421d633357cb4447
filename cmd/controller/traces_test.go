package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/otlptest"
)

// TestTraces runs the controller in-process, configured for tracing by
// nothing but OTEL_EXPORTER_OTLP_ENDPOINT pointing at a real OTLP/gRPC
// receiver: an admin API request carrying a W3C traceparent gets a server
// span in the caller's trace, and the spans left at shutdown, the
// leadership term's among them, are exported before the program exits.
func TestTraces(t *testing.T) {
	recv := otlptest.Start(t)
	httpAddr := testutil.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-id", "ctl-traced", "-http-addr", httpAddr, "-embedded-nats-addr", testutil.FreeAddr(t),
			"-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir()},
			[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.Endpoint()}, &log)
	}()
	waitReady(t, httpAddr)
	waitLeader(t, "http://"+httpAddr, "ctl-traced")
	if !strings.Contains(log.String(), `msg="tracing is on"`) {
		t.Fatalf("the controller does not say tracing is on:\n%s", log.String())
	}

	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	otlptest.GetTraced(t, "http://"+httpAddr+"/api/v1/streams", parentTrace, parentSpan)

	// Stop at once: the request's span is still in the batch, which the
	// shutdown exports.
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; log:\n%s", code, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the controller did not stop; log:\n%s", log.String())
	}
	if strings.Contains(log.String(), "traces not") {
		t.Fatalf("an export failed:\n%s", log.String())
	}
	api := recv.WaitSpan(t, 5*time.Second, otlptest.Named("GET /api/v1/streams"), otlptest.InTrace(parentTrace))
	if api.ParentSpanID != parentSpan || api.Kind != "server" || api.String("http.route") != "/api/v1/streams" ||
		api.String("http.request.method") != "GET" || api.String("http.response.status_code") != "200" {
		t.Errorf("admin API span: %s\nwant a server span child of %s, http.route /api/v1/streams, status 200", api.Describe(), parentSpan)
	}
	for k, want := range map[string]string{"service.name": "tributary-controller", "service.instance.id": "ctl-traced"} {
		if got := api.ResourceString(k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := api.Resource["tributary.edge.id"]; ok {
		t.Error("the controller's resource has a tributary.edge.id")
	}
	// The leadership term ended with the shutdown, before the flush.
	term := recv.WaitSpan(t, 5*time.Second, otlptest.Named("controller.leadership"), otlptest.Service("tributary-controller"))
	if term.String("tributary.leadership.end") != "resigned" || !term.End.After(term.Start) {
		t.Errorf("leadership span: %s\nwant a term that ended resigned", term.Describe())
	}
}

// TestTracingConfigErrors checks that a bad OTEL_* value is a
// configuration error (exit status 2) naming the variable, and that
// without an endpoint the controller says tracing is off.
func TestTracingConfigErrors(t *testing.T) {
	for _, env := range []string{"OTEL_TRACES_SAMPLER=sometimes", "OTEL_EXPORTER_OTLP_PROTOCOL=udp", "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://x"} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-http-addr", testutil.FreeAddr(t)}, []string{env}, &stderr)
		name, _, _ := strings.Cut(env, "=")
		if code != 2 || !strings.Contains(stderr.String(), name) {
			t.Errorf("%s: exit %d, output:\n%s\nwant exit 2 naming %s", env, code, stderr.String(), name)
		}
	}
}
