package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// settingError is a problem with the value of one setting, named by its
// flag. The loader adds where the value came from.
type settingError struct {
	flag   string // flag name without the dash
	err    error
	origin string // "key at file:line" or an environment variable; "" if unknown
}

// Error returns "config: -flag: problem", followed by the origin of the
// value when it is known.
func (e *settingError) Error() string {
	msg := "config: -" + e.flag + ": " + e.err.Error()
	if e.origin != "" {
		msg += " (from " + e.origin + ")"
	}
	return msg
}

// Unwrap returns the problem without the setting's name.
func (e *settingError) Unwrap() error { return e.err }

// problems collects the setting errors of one validation.
type problems []error

// addf records a problem with the setting whose flag is flag.
func (p *problems) addf(flag, format string, args ...any) {
	*p = append(*p, &settingError{flag: flag, err: fmt.Errorf(format, args...)})
}

// add records err as a problem with the setting whose flag is flag, if err
// is not nil.
func (p *problems) add(flag string, err error) {
	if err != nil {
		*p = append(*p, &settingError{flag: flag, err: err})
	}
}

// err returns the problems joined, or nil.
func (p problems) err() error {
	return errors.Join(p...)
}

// checkAddr checks a listen address "host:port" as net.Listen takes it:
// the host may be empty, an IP address (IPv6 in brackets) or a host name;
// the port is a number from 0 to 65535 or a service name.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%q: %s", addr, ae.Err)
		}
		return fmt.Errorf("%q: %w", addr, err)
	}
	if host != "" && !validHost(host) {
		return fmt.Errorf("%q: %q is neither an IP address nor a host name", addr, host)
	}
	switch {
	case port == "":
		return fmt.Errorf("%q: missing port", addr)
	case isDigits(port):
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
			return fmt.Errorf("%q: port %s is out of range 0-65535", addr, port)
		}
	case !validServiceName(port):
		return fmt.Errorf("%q: port %q is neither a number nor a service name", addr, port)
	}
	return nil
}

// validHost reports whether host is an IP address (with an optional IPv6
// zone) or a syntactically valid host name.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// validServiceName reports whether s looks like a service name (RFC 6335:
// letters, digits and hyphens, at least one letter, no hyphen at either
// end).
func validServiceName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) && (c < '0' || c > '9'):
			letter = true
		case isAlnum(c), c == '-':
		default:
			return false
		}
	}
	return letter
}

// checkNATSURL checks one NATS server URL. A URL without a scheme gets
// "nats://", as nats.go does.
func checkNATSURL(raw string) error {
	s := raw
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.User != nil {
		raw = redactURL(s) // the messages below show no password
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: scheme %q is not one of nats, tls, ws, wss", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q: port %s is out of range 1-65535", raw, p)
		}
	}
	return nil
}

// checkEtcdEndpoint checks one etcd endpoint: "host:port" or an http or
// https URL with a host and a port.
func checkEtcdEndpoint(raw string) error {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("%q: scheme %q is not one of http, https", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	p := u.Port()
	if p == "" {
		return fmt.Errorf("%q: no port (etcd serves clients on 2379 by default)", raw)
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port %s is out of range 1-65535", raw, p)
	}
	return nil
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isDigits reports whether s is non-empty and all ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkToken checks that s is non-empty, at most maxLen bytes long (no
// limit if maxLen is 0), and made only of ASCII letters, digits and the
// bytes in extra.
func checkToken(s string, maxLen int, extra string) error {
	allowed := "A-Z, a-z, 0-9"
	for _, c := range extra {
		allowed += fmt.Sprintf(", %q", c)
	}
	switch {
	case s == "":
		return fmt.Errorf("empty; want one or more of %s", allowed)
	case maxLen > 0 && len(s) > maxLen:
		return fmt.Errorf("%d bytes long, more than %d", len(s), maxLen)
	}
	for i, r := range s {
		if r >= utf8.RuneSelf || !isAlnum(byte(r)) && !strings.ContainsRune(extra, r) {
			return fmt.Errorf("%q: character %q at offset %d is not allowed; use %s", s, r, i, allowed)
		}
	}
	return nil
}
