package otlptest

import (
	"net/http"
	"testing"
)

// GetTraced sends a GET request for url carrying a W3C traceparent that
// makes the span parentSpan of the trace traceID (both hex, sampled) its
// parent, as a traced client does. The test fails if the request does;
// the response's status is not checked.
func GetTraced(tb testing.TB, url, traceID, parentSpan string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
}
