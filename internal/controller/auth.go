package controller

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// openPaths are served without the admin token: the health endpoints,
// which Kubernetes probes call without credentials, and the metrics,
// which Prometheus scrapes. They change nothing and show no secret.
var openPaths = map[string]bool{
	routeHealthz: true,
	routeReadyz:  true,
	"/metrics":   true,
}

// tokenRealm is the realm of the admin API's bearer token challenge.
const tokenRealm = "tributary"

// requireToken returns h behind a bearer token (RFC 6750): a request for
// any path but openPaths must carry "Authorization: Bearer TOKEN", else
// it gets 401 Unauthorized with a WWW-Authenticate challenge and never
// reaches h. The comparison takes the same time whatever the token sent.
// An empty token returns h unchanged: the API is open.
func requireToken(token string, h http.Handler, log *slog.Logger) http.Handler {
	if token == "" {
		return h
	}
	// Comparing digests keeps the time independent of the length too.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.EscapedPath()] {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokenRealm+`"`)
			writeError(w, http.StatusUnauthorized, "this API requires a bearer token: send the header Authorization: Bearer TOKEN")
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			log.Debug("admin API request with a wrong token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.EscapedPath())
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokenRealm+`", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "wrong bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header value
// "Bearer TOKEN" (the scheme in any case).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// logAuth says at start whether the admin API at addr requires a token,
// and warns when it is open to more than this machine.
func logAuth(log *slog.Logger, addr net.Addr, hasToken bool) {
	switch {
	case hasToken:
		log.Info("admin API requires a bearer token", "open_paths", "/healthz /readyz /metrics",
			"try", `curl -s -H "Authorization: Bearer $TRIBUTARY_ADMIN_TOKEN" http://`+dialAddr(addr)+"/api/v1/streams")
	case !isLoopback(addr):
		log.Warn("admin API is open: anyone who reaches "+addr.String()+" can list streams and edges, kick publishers and drain edges; set TRIBUTARY_ADMIN_TOKEN or -admin-token-file, or listen on 127.0.0.1 (docs/security.md)",
			"addr", addr.String())
	}
}

// isLoopback reports whether a listener's address is a loopback address.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
