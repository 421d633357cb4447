package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/config"
)

// tlsProbeTimeout bounds each step of the TLS check of an etcd endpoint.
const tlsProbeTimeout = 3 * time.Second

// clientTLS returns the TLS configuration of a client: the servers are
// verified with the certificates of caFile ("" = the system's), and
// certFile and keyFile, when given, are the client's certificate, read
// again at each handshake so that a renewed certificate is used on the
// next connection. It fails when a file does not load.
func clientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			return &c, nil
		}
	}
	return cfg, nil
}

// natsSecurityOptions returns the nats.go options of s and a description
// of them for the log: the way of authenticating and where its secret
// came from, never the secret.
func natsSecurityOptions(s config.NATSSecurity) ([]nats.Option, []any, error) {
	var opts []nats.Option
	var desc []any
	switch {
	case s.User != "":
		opts = append(opts, nats.UserInfo(s.User, s.Password.Value()))
		desc = append(desc, "nats_auth", "user/password", "nats_user", s.User, "nats_password", s.Password)
	case s.Token.IsSet():
		opts = append(opts, nats.Token(s.Token.Value()))
		desc = append(desc, "nats_auth", "token", "nats_token", s.Token)
	case s.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(s.NKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("nats: -nats-nkey-file %s: %w", s.NKeyFile, err)
		}
		opts = append(opts, o)
		desc = append(desc, "nats_auth", "nkey", "nats_nkey_file", s.NKeyFile)
	case s.CredsFile != "":
		opts = append(opts, nats.UserCredentials(s.CredsFile))
		desc = append(desc, "nats_auth", "creds", "nats_creds_file", s.CredsFile)
	default:
		desc = append(desc, "nats_auth", "none")
	}
	if s.TLS() {
		cfg, err := clientTLS(s.TLSCA, s.TLSCert, s.TLSKey, s.TLSServerName)
		if err != nil {
			return nil, nil, fmt.Errorf("nats: -nats-tls-*: %w", err)
		}
		opts = append(opts, nats.Secure(cfg))
		desc = append(desc, "nats_tls", describeTLS(s.TLSCA, s.TLSCert))
	}
	return opts, desc, nil
}

// etcdSecurity returns the TLS configuration (nil for none), user name and
// password of s for endpoints, and a description for the log. TLS is on
// when s asks for it or an endpoint is https://.
func etcdSecurity(endpoints []string, s config.EtcdSecurity) (*tls.Config, []any, error) {
	var desc []any
	if s.User != "" {
		desc = append(desc, "etcd_auth", "user/password", "etcd_user", s.User, "etcd_password", s.Password)
	} else if s.TLSCert != "" {
		desc = append(desc, "etcd_auth", "client certificate")
	} else {
		desc = append(desc, "etcd_auth", "none")
	}
	https := false
	for _, ep := range endpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	if !s.TLS() && !https {
		return nil, desc, nil
	}
	cfg, err := clientTLS(s.TLSCA, s.TLSCert, s.TLSKey, "")
	if err != nil {
		return nil, nil, fmt.Errorf("etcd: -etcd-tls-*: %w", err)
	}
	desc = append(desc, "etcd_tls", describeTLS(s.TLSCA, s.TLSCert))
	return cfg, desc, nil
}

// describeNATSAuth says how a NATS connection authenticates and is
// secured, for error messages: the way and where its secret came from,
// never the secret.
func describeNATSAuth(s config.NATSSecurity) string {
	var d string
	switch {
	case s.User != "":
		d = fmt.Sprintf("user %q and the password %s", s.User, s.Password)
	case s.Token.IsSet():
		d = "the token " + s.Token.String()
	case s.NKeyFile != "":
		d = "the NKey seed of " + s.NKeyFile
	case s.CredsFile != "":
		d = "the credentials of " + s.CredsFile
	default:
		d = "no credentials"
	}
	if s.TLS() {
		d += ", TLS: " + describeTLS(s.TLSCA, s.TLSCert)
	}
	return d
}

// describeTLS says how a TLS connection is verified, for the log.
func describeTLS(ca, cert string) string {
	d := "servers verified with the system's CAs"
	if ca != "" {
		d = "servers verified with " + ca
	}
	if cert != "" {
		d += ", client certificate " + cert
	}
	return d
}

// isConfigError reports whether a failure to connect is one that trying
// again will not fix: credentials refused, a certificate that does not
// verify, a file that cannot be read. The others (no server listening,
// a time-out, a name not resolving yet) are worth retrying.
func isConfigError(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{
		nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired,
		nats.ErrSecureConnRequired, nats.ErrSecureConnWanted, nats.ErrNkeyButNoSigCB, nats.ErrNkeysNotSupported,
		// The server closed the connection right after the TLS handshake:
		// with TLS 1.3 that is how a refused client certificate often
		// shows, when the close overtakes the alert.
		nats.ErrTLS,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return isTLSFailure(err) || errors.As(err, new(*fs.PathError))
}

// isTLSFailure reports whether err is a TLS handshake failure: the
// server's certificate does not verify, the server refused the client's
// certificate, or the server does not speak TLS.
func isTLSFailure(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &record) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	// A TLS alert from the peer arrives as a *net.OpError "remote error"
	// around an unexported type.
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// http2Preface is what an HTTP/2 client sends first: the connection
// preface and an empty SETTINGS frame. A gRPC server (etcd) answers with
// its own SETTINGS frame.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// probeEtcdTLS connects to each endpoint with cfg and returns an error
// naming the endpoint when TLS fails there for a reason that trying again
// will not fix: the server's certificate does not verify, or the server
// refuses the client's certificate (with TLS 1.3 it says so after the
// handshake, hence the HTTP/2 exchange). The etcd client would only time
// out. Endpoints that cannot be reached are skipped: the client retries
// them.
func probeEtcdTLS(ctx context.Context, endpoints []string, cfg *tls.Config) error {
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		host := ep
		if err == nil && u.Host != "" {
			host = u.Host
		}
		c := cfg.Clone()
		c.NextProtos = []string{"h2"}
		if c.ServerName == "" {
			h, _, err := net.SplitHostPort(host)
			if err != nil {
				h = host
			}
			c.ServerName = h
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: tlsProbeTimeout}, Config: c}
		conn, err := d.DialContext(ctx, "tcp", host)
		if err == nil {
			conn.SetDeadline(time.Now().Add(tlsProbeTimeout))
			if _, err = conn.Write(http2Preface); err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		if isTLSFailure(err) {
			return fmt.Errorf("etcd: TLS with %s failed (check -etcd-tls-ca, -etcd-tls-cert and -etcd-tls-key): %w", ep, err)
		}
	}
	return nil
}

// redactURLs returns a comma-separated list of URLs with any password or
// token replaced by "xxxxx".
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// warnIfExposed logs a warning when an embedded server, which takes no
// credentials, listens on an address other than loopback.
func warnIfExposed(log *slog.Logger, what, addr string) {
	if isLoopback(addr) {
		return
	}
	log.Warn("the embedded "+what+" server listens beyond this machine and takes no credentials: anyone who reaches it can read and change what it holds; keep it on 127.0.0.1, or run a secured server (docs/security.md)",
		"addr", addr)
}

// isLoopback reports whether a listen address "host:port" is on a
// loopback address only; a host name other than localhost is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
