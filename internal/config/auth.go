package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Values of AuthRule.Require.
const (
	// AuthRequireAny allows a request that one method of the rule allows.
	AuthRequireAny = "any"
	// AuthRequireAll allows a request that every method of the rule
	// allows.
	AuthRequireAll = "all"
)

// Defaults of the auth section.
const (
	DefaultTokenSkew        = 30 * time.Second
	DefaultWebhookTimeout   = 2 * time.Second
	DefaultWebhookCacheTTL  = 5 * time.Second
	DefaultWebhookCacheSize = 1000
)

// Limits of the auth section.
const (
	// minKeyLen is the shortest stream key, in bytes.
	minKeyLen = 8
	// minSecretLen is the shortest token secret, in bytes.
	minSecretLen = 16
	// maxWebhookTimeout is the longest webhook timeout: an encoder or a
	// player waits that long for an answer.
	maxWebhookTimeout = time.Minute
	// maxNameLen is the longest application or stream name, in bytes
	// (internal/edge refuses longer ones).
	maxNameLen = 512
)

// Auth is the publish and play authorization of an edge: the auth section
// of its YAML file. The zero value allows everything, as an edge without
// the section does.
//
//	auth:
//	  default:            # applications without an entry under apps
//	    play: {deny: true}
//	  apps:
//	    live:
//	      publish:
//	        require: any    # any (default): one method allows; all: every method must
//	        keys: ["k-4f9a0c2e7d1b", {key: "k-8e2d5a7c9f3b", stream: alice}]
//	        keys_file: /etc/tributary/keys
//	        token: {secrets_file: /etc/tributary/token-secrets, skew: 30s, max_validity: 24h}
//	        webhook: {url: "https://auth.example.com/rtmp", timeout: 2s, cache_ttl: 5s, cache_size: 1000}
//	      play: {token: {secrets: ["..."]}}
//
// docs/security.md describes every key and the semantics.
type Auth struct {
	// Default holds the rules of the applications that have no entry in
	// Apps; nil leaves them open.
	Default *AuthApp
	// Apps maps an application name to its rules.
	Apps map[string]*AuthApp
}

// AuthApp holds the rules of one application.
type AuthApp struct {
	// Publish and Play decide each action; nil leaves it open.
	Publish, Play *AuthRule
}

// AuthRule decides one action (publish or play) of an application. Its
// methods are tried in the order keys, token, webhook.
type AuthRule struct {
	// Require is AuthRequireAny (the default) or AuthRequireAll.
	Require string
	// Deny refuses every request; no method may be given with it.
	Deny bool
	// Keys are static stream keys.
	Keys []AuthKey
	// KeysFile names a file of stream keys, one per line: the key, then
	// optionally white space and the stream it is bound to; empty lines
	// and lines starting with '#' are ignored. It is read again when it
	// changes.
	KeysFile string
	// Token accepts HMAC-signed expiring tokens (pkg/token).
	Token *AuthTokens
	// Webhook asks an HTTP service.
	Webhook *AuthWebhook
}

// AuthKey is a static stream key, given as the stream name or in the key
// query parameter.
type AuthKey struct {
	// Key is the secret.
	Key string
	// Stream, when set, binds the key to one stream: given in the key
	// parameter the key allows only that stream name; given as the stream
	// name it publishes or plays Stream, so that the key never appears as
	// a stream name on the bus.
	Stream string
}

// AuthTokens configures the token method.
type AuthTokens struct {
	// Secrets are the HMAC secrets a token may be signed with (every one
	// is accepted, for rotation); at least 16 bytes each.
	Secrets []string
	// SecretsFile names a file of more secrets, one per line (empty lines
	// and lines starting with '#' ignored), read again when it changes.
	SecretsFile string
	// Skew is how long after its exp a token is still accepted.
	Skew time.Duration
	// MaxValidity, when positive, refuses tokens that expire further in
	// the future than this.
	MaxValidity time.Duration
}

// AuthWebhook configures the webhook method.
type AuthWebhook struct {
	// URL receives a POST with a JSON body for every request.
	URL string
	// Timeout bounds each call; no answer in time refuses the request.
	Timeout time.Duration
	// CacheTTL is how long an answer (allow or refuse) is reused for the
	// same request; 0 disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers.
	CacheSize int
	// Headers are added to every call (for example Authorization).
	Headers map[string]string
}

// IsZero reports whether a configures no rule.
func (a Auth) IsZero() bool { return a.Default == nil && len(a.Apps) == 0 }

// newAuthWebhook returns a webhook configuration for url with the
// defaults.
func newAuthWebhook(url string) *AuthWebhook {
	return &AuthWebhook{URL: url, Timeout: DefaultWebhookTimeout,
		CacheTTL: DefaultWebhookCacheTTL, CacheSize: DefaultWebhookCacheSize}
}

// withWebhooks returns a with the webhook URLs given by flags set on the
// default rules: publishURL (if not empty) becomes the webhook of the
// default publish rule, playURL that of the default play rule; a rule or
// a webhook that does not exist is created with the defaults. a itself is
// not changed.
func (a Auth) withWebhooks(publishURL, playURL string) Auth {
	if publishURL == "" && playURL == "" {
		return a
	}
	def := &AuthApp{}
	if a.Default != nil {
		*def = *a.Default
	}
	set := func(r **AuthRule, url string) {
		if url == "" {
			return
		}
		rule := &AuthRule{Require: AuthRequireAny}
		if *r != nil {
			*rule = **r
		}
		hook := newAuthWebhook(url)
		if rule.Webhook != nil {
			*hook = *rule.Webhook
			hook.URL = url
		}
		rule.Webhook = hook
		rule.Deny = false
		*r = rule
	}
	set(&def.Publish, publishURL)
	set(&def.Play, playURL)
	a.Default = def
	return a
}

// authSection binds the auth section: a YAML mapping with no flag or
// environment variable.
func (fs *fieldSet) authSection(p *Auth, help string) *setting {
	s := &setting{
		key:      "auth",
		help:     help,
		defUsage: "",
		defMD:    "none (everything allowed)",
		parse: func(string) (func(), error) {
			return nil, errors.New("the auth section is set in the YAML file only")
		},
		decodeYAML: func(n *yaml.Node) (func(), error) {
			a, err := decodeAuth(n)
			if err != nil {
				return nil, err
			}
			return func() { *p = a }, nil
		},
	}
	fs.settings = append(fs.settings, s)
	return s
}

// authDecoder decodes the auth section, collecting every problem with its
// line.
type authDecoder struct {
	errs []error
}

// addf records a problem at line in the value at path.
func (d *authDecoder) addf(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, &lineError{line: line, err: errors.New(msg)})
}

// decodeAuth decodes the auth section. Every problem is returned, joined,
// each a *lineError.
func decodeAuth(n *yaml.Node) (Auth, error) {
	var a Auth
	if isNull(n) {
		return a, nil
	}
	d := &authDecoder{}
	d.mapping(n, "", []string{"default", "apps"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "default":
			a.Default = d.app(v, "default")
		case "apps":
			a.Apps = map[string]*AuthApp{}
			d.mapping(v, "apps", nil, func(name string, k, v *yaml.Node) {
				path := "apps." + pathKey(name)
				if why := checkAuthName(name); why != "" {
					d.addf(k.Line, path, "the application name %s", why)
					return
				}
				if app := d.app(v, path); app != nil {
					a.Apps[name] = app
				}
			})
		}
	})
	return a, errors.Join(d.errs...)
}

// pathKey returns name as a segment of a path in error messages.
func pathKey(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '-' && c != '_' {
			return strconv.Quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

// mapping decodes the YAML mapping n: for each entry, in order, it calls
// each with the key's text and its nodes. Keys outside known (when known is
// not nil), repeated keys, merge keys and keys that are not strings are
// problems.
func (d *authDecoder) mapping(n *yaml.Node, path string, known []string, each func(key string, k, v *yaml.Node)) bool {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, path, "want a mapping, got %s", describeNode(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		switch {
		case k.ShortTag() == "!!merge":
			d.addf(k.Line, path, "merge keys (<<) are not supported")
			continue
		case k.Kind != yaml.ScalarNode:
			d.addf(k.Line, path, "want a name as the key, got %s", describeNode(k))
			continue
		}
		sub := pathKey(k.Value)
		if path != "" {
			sub = path + "." + sub
		}
		if first, dup := seen[k.Value]; dup {
			d.addf(k.Line, sub, "repeats line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			msg := "unknown key"
			if hint := suggest(k.Value, known); hint != "" {
				msg += " (did you mean " + hint + "?)"
			} else {
				msg += " (want one of " + strings.Join(known, ", ") + ")"
			}
			d.addf(k.Line, sub, "%s", msg)
			continue
		}
		each(k.Value, k, v)
	}
	return true
}

// app decodes the rules of one application.
func (d *authDecoder) app(n *yaml.Node, path string) *AuthApp {
	app := &AuthApp{}
	ok := d.mapping(n, path, []string{"publish", "play"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "publish":
			app.Publish = d.rule(v, path+".publish")
		case "play":
			app.Play = d.rule(v, path+".play")
		}
	})
	if !ok {
		return nil
	}
	return app
}

// rule decodes one rule.
func (d *authDecoder) rule(n *yaml.Node, path string) *AuthRule {
	r := &AuthRule{Require: AuthRequireAny}
	keyLines := map[string]int{}
	ok := d.mapping(n, path, []string{"require", "deny", "keys", "keys_file", "token", "webhook"}, func(key string, k, v *yaml.Node) {
		sub := path + "." + key
		switch key {
		case "require":
			if s, ok := d.scalar(v, sub, "any or all"); ok {
				if s != AuthRequireAny && s != AuthRequireAll {
					d.addf(v.Line, sub, "%q: want any or all", s)
				}
				r.Require = s
			}
		case "deny":
			if err := wantScalar(v, "true or false"); err != nil || v.Decode(&r.Deny) != nil {
				d.addf(v.Line, sub, "want true or false, got %s", describeNode(v))
			}
		case "keys":
			r.Keys = d.keys(v, sub, keyLines)
		case "keys_file":
			if s, ok := d.scalar(v, sub, "a file name"); ok {
				r.KeysFile = s
			}
		case "token":
			r.Token = d.tokens(v, sub)
		case "webhook":
			r.Webhook = d.webhook(v, sub)
		}
	})
	if !ok {
		return nil
	}
	methods := len(r.Keys) > 0 || r.KeysFile != "" || r.Token != nil || r.Webhook != nil
	switch {
	case r.Deny && methods:
		d.addf(n.Line, path, "deny: true refuses everything; it takes no other method")
	case !r.Deny && !methods:
		d.addf(n.Line, path, "no method: give keys, keys_file, token or webhook (or deny: true; omit the rule to leave the action open)")
	}
	return r
}

// scalar returns the text of the non-empty scalar n.
func (d *authDecoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if err := wantScalar(n, want); err != nil {
		d.addf(n.Line, path, "%v", err)
		return "", false
	}
	if n.Value == "" {
		d.addf(n.Line, path, "empty: want %s", want)
		return "", false
	}
	return n.Value, true
}

// duration decodes a non-negative duration.
func (d *authDecoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if err := wantScalar(n, "a duration"); err != nil {
		d.addf(n.Line, path, "%v", err)
		return 0, false
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		d.addf(n.Line, path, "%v", err)
		return 0, false
	}
	if v < 0 {
		d.addf(n.Line, path, "%s: must not be negative", v)
		return 0, false
	}
	return v, true
}

// keys decodes a list of stream keys: strings, or mappings with key and
// stream. Problems never quote a key.
func (d *authDecoder) keys(n *yaml.Node, path string, lines map[string]int) []AuthKey {
	if n.Kind != yaml.SequenceNode {
		d.addf(n.Line, path, "want a list, got %s", describeNode(n))
		return nil
	}
	var out []AuthKey
	for i, item := range n.Content {
		item = resolveAlias(item)
		sub := fmt.Sprintf("%s[%d]", path, i)
		var k AuthKey
		switch item.Kind {
		case yaml.ScalarNode:
			if isNull(item) {
				d.addf(item.Line, sub, "want a key, got no value")
				continue
			}
			k.Key = item.Value
		case yaml.MappingNode:
			d.mapping(item, sub, []string{"key", "stream"}, func(key string, _, v *yaml.Node) {
				if err := wantScalar(v, "a string"); err != nil {
					d.addf(v.Line, sub+"."+key, "%v", err)
					return
				}
				if key == "key" {
					k.Key = v.Value
				} else {
					k.Stream = v.Value
				}
			})
			if k.Key == "" {
				d.addf(item.Line, sub, "no key")
				continue
			}
		default:
			d.addf(item.Line, sub, "want a key or a mapping of key and stream, got %s", describeNode(item))
			continue
		}
		if why := CheckStreamKey(k.Key); why != "" {
			d.addf(item.Line, sub, "the key %s", why)
			continue
		}
		if k.Stream != "" {
			if why := checkAuthName(k.Stream); why != "" {
				d.addf(item.Line, sub+".stream", "the stream name %s", why)
				continue
			}
		}
		if first, dup := lines[k.Key]; dup {
			d.addf(item.Line, sub, "repeats the key of line %d", first)
			continue
		}
		lines[k.Key] = item.Line
		out = append(out, k)
	}
	return out
}

// tokens decodes the token method.
func (d *authDecoder) tokens(n *yaml.Node, path string) *AuthTokens {
	t := &AuthTokens{Skew: DefaultTokenSkew}
	before := len(d.errs)
	ok := d.mapping(n, path, []string{"secrets", "secrets_file", "skew", "max_validity"}, func(key string, _, v *yaml.Node) {
		sub := path + "." + key
		switch key {
		case "secrets":
			if v.Kind != yaml.SequenceNode {
				d.addf(v.Line, sub, "want a list, got %s", describeNode(v))
				return
			}
			for i, item := range v.Content {
				item = resolveAlias(item)
				if item.Kind != yaml.ScalarNode || isNull(item) {
					d.addf(item.Line, fmt.Sprintf("%s[%d]", sub, i), "want a secret, got %s", describeNode(item))
					continue
				}
				if why := CheckTokenSecret(item.Value); why != "" {
					d.addf(item.Line, fmt.Sprintf("%s[%d]", sub, i), "the secret %s", why)
					continue
				}
				t.Secrets = append(t.Secrets, item.Value)
			}
		case "secrets_file":
			if s, ok := d.scalar(v, sub, "a file name"); ok {
				t.SecretsFile = s
			}
		case "skew":
			if v, ok := d.duration(v, sub); ok {
				t.Skew = v
			}
		case "max_validity":
			if v, ok := d.duration(v, sub); ok {
				t.MaxValidity = v
			}
		}
	})
	if !ok {
		return nil
	}
	if len(t.Secrets) == 0 && t.SecretsFile == "" && len(d.errs) == before {
		// (Invalid secrets were reported already.)
		d.addf(n.Line, path, "no secret: give secrets or secrets_file")
	}
	return t
}

// webhook decodes the webhook method.
func (d *authDecoder) webhook(n *yaml.Node, path string) *AuthWebhook {
	w := newAuthWebhook("")
	ok := d.mapping(n, path, []string{"url", "timeout", "cache_ttl", "cache_size", "headers"}, func(key string, _, v *yaml.Node) {
		sub := path + "." + key
		switch key {
		case "url":
			if s, ok := d.scalar(v, sub, "an http or https URL"); ok {
				if err := CheckWebhookURL(s); err != nil {
					d.addf(v.Line, sub, "%v", err)
				}
				w.URL = s
			}
		case "timeout":
			if t, ok := d.duration(v, sub); ok {
				if t == 0 || t > maxWebhookTimeout {
					d.addf(v.Line, sub, "%s: want more than 0 and at most %s", t, maxWebhookTimeout)
				}
				w.Timeout = t
			}
		case "cache_ttl":
			if t, ok := d.duration(v, sub); ok {
				w.CacheTTL = t
			}
		case "cache_size":
			var size int
			if err := wantScalar(v, "an integer"); err != nil || v.ShortTag() != "!!int" || v.Decode(&size) != nil {
				d.addf(v.Line, sub, "want an integer, got %s", describeNode(v))
				return
			}
			if size < 1 {
				d.addf(v.Line, sub, "%d: must be at least 1 (cache_ttl: 0 disables the cache)", size)
			}
			w.CacheSize = size
		case "headers":
			w.Headers = map[string]string{}
			d.mapping(v, sub, nil, func(name string, k, hv *yaml.Node) {
				if !validHeaderName(name) {
					d.addf(k.Line, sub, "%q is not a valid header name", name)
					return
				}
				if err := wantScalar(hv, "a string"); err != nil {
					d.addf(hv.Line, sub+"."+name, "%v", err)
					return
				}
				if strings.ContainsAny(hv.Value, "\r\n\x00") {
					d.addf(hv.Line, sub+"."+name, "the value contains a line break or NUL")
					return
				}
				w.Headers[http.CanonicalHeaderKey(name)] = hv.Value
			})
		}
	})
	if !ok {
		return nil
	}
	if w.URL == "" {
		d.addf(n.Line, path, "no url")
	}
	return w
}

// CheckStreamKey returns why key cannot be a stream key, or "": it must
// have at least 8 bytes and no white space, control characters, '?' or
// '&' (it is given as a stream name or a query parameter).
func CheckStreamKey(key string) string {
	switch {
	case len(key) < minKeyLen:
		return fmt.Sprintf("is shorter than %d bytes", minKeyLen)
	case len(key) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '&' }):
		return "contains white space, control characters, '?' or '&'"
	}
	return ""
}

// CheckTokenSecret returns why s cannot be a token secret, or "": it must
// have at least 16 bytes and no line break (a secrets file holds one per
// line).
func CheckTokenSecret(s string) string {
	switch {
	case len(s) < minSecretLen:
		return fmt.Sprintf("is shorter than %d bytes (32 random bytes are best)", minSecretLen)
	case strings.ContainsAny(s, "\r\n"):
		return "contains a line break"
	}
	return ""
}

// CheckWebhookURL checks the URL of a webhook: http or https, with a host
// and without user information. Problems do not quote the URL, which may
// hold a secret in its query.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want an http or https URL", u.Scheme)
	case u.Host == "":
		return errors.New("the URL has no host")
	case u.User != nil:
		return errors.New("the URL holds a user name or password: give credentials in headers instead")
	}
	return nil
}

// checkAuthName returns why an application or stream name in the auth
// section can never match a request, or "".
func checkAuthName(n string) string {
	switch {
	case n == "":
		return "is empty"
	case len(n) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	case strings.Contains(n, "?"):
		return "contains '?' (a query string is never part of a name)"
	}
	return ""
}

// validHeaderName reports whether name is an HTTP header field name (an
// RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// AuthRules returns the publish and play rules in force: the auth section
// with the webhook URLs of -auth-publish-webhook and -auth-play-webhook set
// on the default rules (a default rule or webhook that does not exist is
// created with the defaults; deny: true is replaced).
func (e Edge) AuthRules() Auth {
	return e.Auth.withWebhooks(e.AuthPublishWebhook, e.AuthPlayWebhook)
}

// checkAuthWebhooks adds the problems of the webhook URLs given as
// settings to p.
func (p *problems) checkAuthWebhooks(e Edge) {
	if e.AuthPublishWebhook != "" {
		p.add("auth-publish-webhook", CheckWebhookURL(e.AuthPublishWebhook))
	}
	if e.AuthPlayWebhook != "" {
		p.add("auth-play-webhook", CheckWebhookURL(e.AuthPlayWebhook))
	}
}
