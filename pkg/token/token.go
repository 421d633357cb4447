// Package token signs and checks the expiring tokens a Tributary edge
// accepts in the query string of a stream name:
//
//	rtmp://edge.example.com/live/match-42?exp=1767225600&sig=Jx3...
//
// A token allows one action (publish or play) on one stream of one
// application until a moment: exp, in Unix seconds. Its signature, sig, is
// HMAC-SHA256 keyed with a secret the edge knows, over the canonical string
//
//	<action> LF <app> LF <stream> LF <exp>
//
// (LF is the byte 0x0A; app and stream are the names without any query
// string, exp is the decimal text of the exp parameter), encoded in
// base64url without padding (RFC 4648 section 5). The secret is used as the
// bytes of its text. Application and stream names never contain control
// characters (the edge refuses them), so the string is unambiguous.
//
// The same recipe in a shell, for a token valid one hour:
//
//	exp=$(( $(date +%s) + 3600 ))
//	sig=$(printf 'publish\nlive\nmatch-42\n%s' "$exp" |
//	      openssl dgst -sha256 -hmac "$SECRET" -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
//	echo "rtmp://edge.example.com/live/match-42?exp=$exp&sig=$sig"
//
// A token is valid until exp plus the verifier's clock skew tolerance and
// may be used any number of times until then; an encoder that reconnects
// with the same URL after the token expired is refused. The verifier
// accepts several secrets at once, so that secrets can be rotated: add the
// new secret to the edges, sign with it, then remove the old one.
//
// The package uses only the standard library; its functions are safe for
// concurrent use.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query parameter names of a token.
const (
	// ParamExpires is the expiry, in Unix seconds.
	ParamExpires = "exp"
	// ParamSignature is the signature, in unpadded base64url.
	ParamSignature = "sig"
)

// Actions a token allows.
const (
	Publish = "publish"
	Play    = "play"
)

// Errors Verify returns. Their text is safe to show to the client: it holds
// no secret.
var (
	// ErrMissing means the query has no exp or no sig parameter.
	ErrMissing = errors.New("token: missing (want exp and sig parameters)")
	// ErrMalformed means exp is not a decimal integer from 1 to the end of
	// the year 9999, sig is not the canonical unpadded base64url of 32
	// bytes (trailing "=" aside), or a parameter is given twice.
	ErrMalformed = errors.New("token: malformed")
	// ErrSignature means no secret gives the signature: the token was
	// signed with another secret, or for another action, application,
	// stream or expiry.
	ErrSignature = errors.New("token: signature does not match")
	// ErrExpired means exp plus the clock skew tolerance has passed.
	ErrExpired = errors.New("token: expired")
	// ErrTooLong means exp is further in the future than the verifier's
	// maximum validity allows.
	ErrTooLong = errors.New("token: expires too far in the future")
)

// Canonical returns the string a token signs: action, app, stream and exp
// (decimal), each followed by a line feed but the last.
func Canonical(action, app, stream string, exp int64) string {
	var b strings.Builder
	b.Grow(len(action) + len(app) + len(stream) + 23)
	b.WriteString(action)
	b.WriteByte('\n')
	b.WriteString(app)
	b.WriteByte('\n')
	b.WriteString(stream)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(exp, 10))
	return b.String()
}

// Sign returns the signature of a token: the unpadded base64url encoding
// of HMAC-SHA256(secret, Canonical(action, app, stream, exp)).
func Sign(secret []byte, action, app, stream string, exp int64) string {
	return base64.RawURLEncoding.EncodeToString(mac(secret, action, app, stream, exp))
}

// Query returns the query string of a token valid until exp for action
// on app/stream: "exp=<unix>&sig=<signature>". Append it to the stream
// name after a '?' (or an '&' when the name has a query already).
func Query(secret []byte, action, app, stream string, exp time.Time) string {
	e := exp.Unix()
	return ParamExpires + "=" + strconv.FormatInt(e, 10) + "&" + ParamSignature + "=" + Sign(secret, action, app, stream, e)
}

// maxExp is the latest expiry a token may carry: the last second of the
// year 9999, far from where time arithmetic overflows.
const maxExp = 253402300799

func mac(secret []byte, action, app, stream string, exp int64) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(Canonical(action, app, stream, exp)))
	return h.Sum(nil)
}

// Verifier checks tokens. Its zero value has no secret and accepts none.
type Verifier struct {
	// Secrets are the secrets a token may be signed with; every one is
	// tried.
	Secrets [][]byte
	// Skew is how long after exp a token is still accepted, for clocks
	// that disagree.
	Skew time.Duration
	// MaxValidity, when positive, refuses tokens whose exp is more than
	// MaxValidity (plus Skew) away, so that a leaked token cannot be
	// good for years.
	MaxValidity time.Duration
}

// Verify checks the token in q (its exp and sig parameters) for action on
// app/stream at time now. It returns nil for a valid token, else one of
// ErrMissing, ErrMalformed, ErrSignature, ErrExpired or ErrTooLong. The
// signature is compared in constant time with that of every secret.
func (v Verifier) Verify(q url.Values, action, app, stream string, now time.Time) error {
	exps, sigs := q[ParamExpires], q[ParamSignature]
	if len(exps) == 0 || len(sigs) == 0 {
		return ErrMissing
	}
	if len(exps) > 1 || len(sigs) > 1 {
		return ErrMalformed
	}
	exp, err := strconv.ParseInt(exps[0], 10, 64)
	if err != nil || exp <= 0 || exp > maxExp || exps[0][0] == '+' {
		return ErrMalformed
	}
	// A signature has one spelling: the strict decoder refuses non-zero
	// trailing bits, and line breaks, which every base64 decoder skips,
	// are refused here (padding may be left on).
	enc := strings.TrimRight(sigs[0], "=")
	sig, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(sig) != sha256.Size || strings.ContainsAny(enc, "\r\n") {
		return ErrMalformed
	}
	match := 0
	for _, s := range v.Secrets {
		match |= subtle.ConstantTimeCompare(mac(s, action, app, stream, exp), sig)
	}
	if match != 1 {
		return ErrSignature
	}
	expires := time.Unix(exp, 0)
	if now.After(expires.Add(v.Skew)) {
		return ErrExpired
	}
	if v.MaxValidity > 0 && expires.Sub(now) > v.MaxValidity+v.Skew {
		return ErrTooLong
	}
	return nil
}
