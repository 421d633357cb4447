package token_test

import (
	"errors"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/token"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	other  = []byte("fedcba9876543210fedcba9876543210")
	now    = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
)

func parse(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCanonical(t *testing.T) {
	got := token.Canonical(token.Publish, "live", "match 42", 1767225600)
	if want := "publish\nlive\nmatch 42\n1767225600"; got != want {
		t.Fatalf("Canonical = %q, want %q", got, want)
	}
}

// TestSignKnownAnswer pins the signature of one token, computed
// independently (openssl dgst -sha256 -hmac), so that the recipe cannot
// change by accident.
func TestSignKnownAnswer(t *testing.T) {
	got := token.Sign(secret, token.Publish, "live", "match-42", 1767225600)
	const want = "vNmFg_LZghZe0Eo3Op3X1KtnIRkdHUnpS1PitTtxO7E"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	exp := now.Add(time.Hour)
	good := token.Query(secret, token.Publish, "live", "match-42", exp)
	v := token.Verifier{Secrets: [][]byte{secret}, Skew: 30 * time.Second}
	// The same signature spelt otherwise: a line break inside (base64
	// decoders skip it), non-zero unused bits in the last character.
	sig := token.Sign(secret, token.Publish, "live", "match-42", exp.Unix())
	expParam := "exp=" + strconv.FormatInt(exp.Unix(), 10)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	looseSig := sig[:len(sig)-1] + string(alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])|1])
	cases := []struct {
		name                string
		v                   token.Verifier
		q                   string
		action, app, stream string
		at                  time.Time
		want                error
	}{
		{name: "valid", v: v, q: good, at: now},
		{name: "valid-just-before-expiry", v: v, q: good, at: exp},
		{name: "valid-within-skew", v: v, q: good, at: exp.Add(30 * time.Second)},
		{name: "expired-past-skew", v: v, q: good, at: exp.Add(31 * time.Second), want: token.ErrExpired},
		{name: "expired-no-skew", v: token.Verifier{Secrets: [][]byte{secret}}, q: good, at: exp.Add(time.Second), want: token.ErrExpired},
		{name: "rotation-old-secret", v: token.Verifier{Secrets: [][]byte{other, secret}}, q: good, at: now},
		{name: "wrong-secret", v: token.Verifier{Secrets: [][]byte{other}}, q: good, at: now, want: token.ErrSignature},
		{name: "no-secret", v: token.Verifier{}, q: good, at: now, want: token.ErrSignature},
		{name: "other-action", v: v, q: good, action: token.Play, at: now, want: token.ErrSignature},
		{name: "other-app", v: v, q: good, app: "vod", at: now, want: token.ErrSignature},
		{name: "other-stream", v: v, q: good, stream: "match-43", at: now, want: token.ErrSignature},
		{name: "exp-changed", v: v, q: strings.Replace(good, "exp="+strconv.FormatInt(exp.Unix(), 10), "exp="+strconv.FormatInt(exp.Unix()+3600, 10), 1), at: now, want: token.ErrSignature},
		{name: "too-long", v: token.Verifier{Secrets: [][]byte{secret}, MaxValidity: 30 * time.Minute}, q: good, at: now, want: token.ErrTooLong},
		{name: "within-max-validity", v: token.Verifier{Secrets: [][]byte{secret}, MaxValidity: 2 * time.Hour}, q: good, at: now},
		{name: "missing", v: v, q: "", at: now, want: token.ErrMissing},
		{name: "missing-sig", v: v, q: "exp=1767229200", at: now, want: token.ErrMissing},
		{name: "missing-exp", v: v, q: "sig=" + token.Sign(secret, token.Publish, "live", "match-42", exp.Unix()), at: now, want: token.ErrMissing},
		{name: "exp-not-a-number", v: v, q: "exp=soon&sig=" + token.Sign(secret, token.Publish, "live", "match-42", exp.Unix()), at: now, want: token.ErrMalformed},
		{name: "exp-signed", v: v, q: "exp=%2B1767229200&sig=" + token.Sign(secret, token.Publish, "live", "match-42", exp.Unix()), at: now, want: token.ErrMalformed},
		{name: "exp-huge", v: v, q: "exp=9223372036854775807&sig=" + token.Sign(secret, token.Publish, "live", "match-42", 9223372036854775807), at: now, want: token.ErrMalformed},
		{name: "sig-short", v: v, q: "exp=1767229200&sig=abcd", at: now, want: token.ErrMalformed},
		{name: "sig-not-base64url", v: v, q: "exp=1767229200&sig=" + strings.Repeat("*", 43), at: now, want: token.ErrMalformed},
		{name: "params-twice", v: v, q: good + "&" + good, at: now, want: token.ErrMalformed},
		{name: "sig-padded", v: v, q: expParam + "&sig=" + sig + "=", at: now},
		{name: "sig-line-break", v: v, q: expParam + "&sig=" + sig[:20] + "%0D" + sig[20:], at: now, want: token.ErrMalformed},
		{name: "sig-newline-end", v: v, q: expParam + "&sig=" + sig + "%0A", at: now, want: token.ErrMalformed},
		{name: "sig-trailing-bits", v: v, q: expParam + "&sig=" + looseSig, at: now, want: token.ErrMalformed},
		{name: "padded-sig", v: v, q: good + "%3D", at: now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			action, app, stream := token.Publish, "live", "match-42"
			if c.action != "" {
				action = c.action
			}
			if c.app != "" {
				app = c.app
			}
			if c.stream != "" {
				stream = c.stream
			}
			err := c.v.Verify(parse(t, c.q), action, app, stream, c.at)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// TestShellRecipe signs a token with the shell recipe of the package
// documentation and docs/security.md, and checks that Verify accepts it.
func TestShellRecipe(t *testing.T) {
	testutil.RequireTool(t, "openssl")
	exp := now.Add(time.Hour).Unix()
	script := `sig=$(printf 'publish\nlive\nmatch-42\n%s' "$exp" |
      openssl dgst -sha256 -hmac "$SECRET" -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
echo "exp=$exp&sig=$sig"`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/local/bin", "SECRET=" + string(secret), "exp=" + strconv.FormatInt(exp, 10)}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recipe: %v", err)
	}
	q := strings.TrimSpace(string(out))
	if want := token.Query(secret, token.Publish, "live", "match-42", time.Unix(exp, 0)); q != want {
		t.Fatalf("recipe gives %s, want %s", q, want)
	}
	v := token.Verifier{Secrets: [][]byte{secret}}
	if err := v.Verify(parse(t, q), token.Publish, "live", "match-42", now); err != nil {
		t.Fatalf("Verify(recipe token) = %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(token.Query(secret, token.Publish, "live", "match-42", now.Add(time.Hour)), "live", "match-42")
	f.Add("exp=1&sig=", "a", "b")
	f.Add("exp=-5&sig=AAAA", "", "")
	f.Add("exp=253402300799&sig="+strings.Repeat("A", 43), "app", "name")
	f.Fuzz(func(t *testing.T, q, app, stream string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		v := token.Verifier{Secrets: [][]byte{secret}, Skew: time.Minute, MaxValidity: time.Hour}
		if err := v.Verify(vals, token.Publish, app, stream, now); err == nil {
			// Only a token signed with the secret passes.
			exp, _ := strconv.ParseInt(vals.Get(token.ParamExpires), 10, 64)
			sig := strings.TrimRight(vals.Get(token.ParamSignature), "=")
			if sig != token.Sign(secret, token.Publish, app, stream, exp) {
				t.Fatalf("Verify accepted %q for %q/%q", q, app, stream)
			}
		}
	})
}
