package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadEdgeAuth(t *testing.T) {
	path := writeFile(t, "edge.yaml", `
auth:
  default:
    play: {deny: true}
  apps:
    live:
      publish:
        require: all
        keys:
          - k-4f9a0c2e7d1b
          - {key: k-8e2d5a7c9f3b, stream: alice}
        keys_file: /etc/tributary/keys
        token:
          secrets: ["0123456789abcdef0123"]
          secrets_file: /etc/tributary/token-secrets
          skew: 10s
          max_validity: 24h
        webhook:
          url: https://auth.example.com/rtmp?edge=1
          timeout: 1500ms
          cache_ttl: 0s
          cache_size: 10
          headers: {authorization: Bearer abc}
      play:
        token: {secrets_file: /etc/tributary/play-secrets}
    "my.app":
      publish:
        webhook: &hook {url: "http://127.0.0.1:9000/hook"}
      play:
        webhook: *hook
`)
	got, err := LoadEdge("edge", nil, []string{"TRIBUTARY_CONFIG=" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook := &AuthWebhook{URL: "http://127.0.0.1:9000/hook", Timeout: 2 * time.Second, CacheTTL: 5 * time.Second, CacheSize: 1000}
	want := Auth{
		Default: &AuthApp{Play: &AuthRule{Require: "any", Deny: true}},
		Apps: map[string]*AuthApp{
			"live": {
				Publish: &AuthRule{
					Require:  "all",
					Keys:     []AuthKey{{Key: "k-4f9a0c2e7d1b"}, {Key: "k-8e2d5a7c9f3b", Stream: "alice"}},
					KeysFile: "/etc/tributary/keys",
					Token: &AuthTokens{Secrets: []string{"0123456789abcdef0123"}, SecretsFile: "/etc/tributary/token-secrets",
						Skew: 10 * time.Second, MaxValidity: 24 * time.Hour},
					Webhook: &AuthWebhook{URL: "https://auth.example.com/rtmp?edge=1", Timeout: 1500 * time.Millisecond,
						CacheSize: 10, Headers: map[string]string{"Authorization": "Bearer abc"}},
				},
				Play: &AuthRule{Require: "any", Token: &AuthTokens{SecretsFile: "/etc/tributary/play-secrets", Skew: 30 * time.Second}},
			},
			"my.app": {
				Publish: &AuthRule{Require: "any", Webhook: hook},
				Play:    &AuthRule{Require: "any", Webhook: hook},
			},
		},
	}
	if !reflect.DeepEqual(got.Auth, want) {
		t.Fatalf("Auth = %s\nwant %s", dump(got.Auth), dump(want))
	}
	if !reflect.DeepEqual(got.AuthRules(), want) {
		t.Fatalf("AuthRules() without webhook flags = %s, want the section", dump(got.AuthRules()))
	}
}

// dump formats a for failure messages.
func dump(a Auth) string {
	var b strings.Builder
	app := func(name string, x *AuthApp) {
		fmt.Fprintf(&b, "\n  %s:", name)
		if x == nil {
			b.WriteString(" nil")
			return
		}
		for _, r := range []*AuthRule{x.Publish, x.Play} {
			if r == nil {
				b.WriteString(" {nil}")
				continue
			}
			fmt.Fprintf(&b, " %+v", *r)
			if r.Token != nil {
				fmt.Fprintf(&b, " token %+v", *r.Token)
			}
			if r.Webhook != nil {
				fmt.Fprintf(&b, " webhook %+v", *r.Webhook)
			}
		}
	}
	app("default", a.Default)
	for name, x := range a.Apps {
		app(name, x)
	}
	return b.String()
}

func TestAuthWebhookSettings(t *testing.T) {
	path := writeFile(t, "edge.yaml", `
auth:
  default:
    publish: {deny: true}
    play:
      keys: [k-4f9a0c2e7d1b]
      webhook: {url: "http://file.example/hook", timeout: 1s}
`)
	env := []string{"TRIBUTARY_CONFIG=" + path, "TRIBUTARY_AUTH_PLAY_WEBHOOK=http://env.example/play"}
	args := []string{"-auth-publish-webhook", "http://flag.example/publish"}
	got, err := LoadEdge("edge", args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules := got.AuthRules()
	pub, play := rules.Default.Publish, rules.Default.Play
	if pub.Deny || pub.Webhook == nil || pub.Webhook.URL != "http://flag.example/publish" || pub.Webhook.Timeout != DefaultWebhookTimeout {
		t.Errorf("default publish rule = %+v, want the flag's webhook with the defaults", pub)
	}
	if play.Webhook == nil || play.Webhook.URL != "http://env.example/play" || play.Webhook.Timeout != time.Second || len(play.Keys) != 1 {
		t.Errorf("default play rule = %+v, want the file's rule with the variable's URL", play)
	}
	// The section itself is unchanged.
	if !got.Auth.Default.Publish.Deny || got.Auth.Default.Play.Webhook.URL != "http://file.example/hook" {
		t.Errorf("AuthRules changed the section: %+v", got.Auth.Default)
	}

	// No section: the flag creates the default rule.
	got, err = LoadEdge("edge", []string{"-auth-play-webhook=https://x.example/p"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules = got.AuthRules()
	if rules.Default == nil || rules.Default.Publish != nil || rules.Default.Play.Webhook.URL != "https://x.example/p" || len(rules.Apps) != 0 {
		t.Errorf("AuthRules() = %+v", rules.Default)
	}

	_, err = LoadEdge("edge", []string{"-auth-publish-webhook=ftp://x"}, []string{"TRIBUTARY_AUTH_PLAY_WEBHOOK=http://"}, nil)
	wantErrors(t, err, `config: -auth-publish-webhook: scheme "ftp": want an http or https URL`,
		"config: -auth-play-webhook: the URL has no host (from TRIBUTARY_AUTH_PLAY_WEBHOOK)")
}

func TestLoadEdgeAuthErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"not-a-mapping", "auth: [a]", []string{":1: auth: want a mapping, got a list"}},
		{"unknown-key", "auth:\n  defaults: {}", []string{`:2: auth: defaults: unknown key (did you mean default?)`}},
		{"unknown-rule-key", `
auth:
  apps:
    live:
      publish:
        keys: [k-4f9a0c2e7d1b]
        token_secret: abc`, []string{`:7: auth: apps.live.publish.token_secret: unknown key (want one of require, deny, keys, keys_file, token, webhook)`}},
		{"unknown-action", "auth:\n  apps:\n    live:\n      publsh: {deny: true}", []string{":4: auth: apps.live.publsh: unknown key (did you mean publish?)"}},
		{"bad-durations", `
auth:
  apps:
    live:
      publish:
        token: {secrets: ["0123456789abcdef"], skew: 30, max_validity: -1h}
        webhook: {url: "http://a/b", timeout: 0s, cache_ttl: soon}`, []string{
			`:6: auth: apps.live.publish.token.skew: want a duration such as 10s, 1m30s or 250ms, got "30"`,
			`:6: auth: apps.live.publish.token.max_validity: -1h0m0s: must not be negative`,
			`:7: auth: apps.live.publish.webhook.timeout: 0s: want more than 0 and at most 1m0s`,
			`:7: auth: apps.live.publish.webhook.cache_ttl: want a duration such as 10s, 1m30s or 250ms, got "soon"`,
		}},
		{"missing-secrets", "auth:\n  apps:\n    live:\n      play:\n        token: {skew: 1s}", []string{
			":5: auth: apps.live.play.token: no secret: give secrets or secrets_file"}},
		{"empty-secrets", "auth:\n  apps:\n    live:\n      play:\n        token: {secrets: []}", []string{
			":5: auth: apps.live.play.token: no secret: give secrets or secrets_file"}},
		{"short-secret", "auth:\n  apps:\n    live:\n      play:\n        token:\n          secrets: [tooshort]", []string{
			":6: auth: apps.live.play.token.secrets[0]: the secret is shorter than 16 bytes"}},
		{"no-method", "auth:\n  apps:\n    live:\n      play: {require: all}", []string{
			":4: auth: apps.live.play: no method: give keys, keys_file, token or webhook"}},
		{"deny-and-method", "auth:\n  default:\n    publish: {deny: true, keys: [k-4f9a0c2e7d1b]}", []string{
			":3: auth: default.publish: deny: true refuses everything; it takes no other method"}},
		{"bad-require", "auth:\n  default:\n    publish: {require: most, keys_file: /k}", []string{
			`:3: auth: default.publish.require: "most": want any or all`}},
		{"bad-keys", `
auth:
  default:
    publish:
      keys:
        - short
        - {stream: alice}
        - {key: "k-4f9a0c2e7d1b", stream: "a?b"}
        - "k with space"
        - k-8e2d5a7c9f3b
        - k-8e2d5a7c9f3b
        - [nested]`, []string{
			":6: auth: default.publish.keys[0]: the key is shorter than 8 bytes",
			":7: auth: default.publish.keys[1]: no key",
			":8: auth: default.publish.keys[2].stream: the stream name contains '?'",
			":9: auth: default.publish.keys[3]: the key contains white space",
			":11: auth: default.publish.keys[5]: repeats the key of line 10",
			":12: auth: default.publish.keys[6]: want a key or a mapping of key and stream, got a list",
		}},
		{"bad-webhook", `
auth:
  default:
    play:
      webhook:
        url: "ftp://x/y"
        cache_size: 0
        headers: {"bad header": x, X-Ok: "a` + "\\n" + `b"}
    publish:
      webhook: {timeout: 1s}`, []string{
			`:6: auth: default.play.webhook.url: scheme "ftp": want an http or https URL`,
			":7: auth: default.play.webhook.cache_size: 0: must be at least 1 (cache_ttl: 0 disables the cache)",
			`:8: auth: default.play.webhook.headers: "bad header" is not a valid header name`,
			":8: auth: default.play.webhook.headers.X-Ok: the value contains a line break or NUL",
			":10: auth: default.publish.webhook: no url",
		}},
		{"bad-app-name", "auth:\n  apps:\n    \"live?x=1\": {publish: {deny: true}}", []string{
			`:3: auth: apps."live?x=1": the application name contains '?'`}},
		{"repeated", "auth:\n  apps:\n    live: {}\n    live: {}", []string{":4: auth: apps.live: repeats line 3"}},
		{"merge-key", "auth:\n  apps:\n    live:\n      <<: {publish: {deny: true}}", []string{":4: auth: apps.live: merge keys (<<) are not supported"}},
		{"null-rule", "auth:\n  apps:\n    live:\n      publish:", []string{":4: auth: apps.live.publish: want a mapping, got no value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "edge.yaml", tc.yaml)
			_, err := LoadEdge("edge", nil, []string{"TRIBUTARY_CONFIG=" + path}, nil)
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = path + w
			}
			wantErrors(t, err, want...)
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
}

// TestAuthErrorsHideSecrets checks that problems with keys, secrets and
// header values never quote them.
func TestAuthErrorsHideSecrets(t *testing.T) {
	path := writeFile(t, "edge.yaml", `
auth:
  default:
    publish:
      keys: ["k-SECRET-one", "k-SECRET-one", "SECRET"]
      token: {secrets: ["SECRET-short"]}
      webhook: {url: "http://SECRET:SECRET@x/"}
`)
	_, err := LoadEdge("edge", nil, []string{"TRIBUTARY_CONFIG=" + path}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("a problem quotes a secret:\n%v", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 4 {
		t.Fatalf("%d problems, want 4:\n%v", n, err)
	}
}

func TestAuthSectionNotInEnvironment(t *testing.T) {
	_, err := LoadEdge("edge", nil, []string{"TRIBUTARY_AUTH=x"}, nil)
	wantErrors(t, err, "config: unknown environment variable TRIBUTARY_AUTH")
	_, err = LoadEdge("edge", []string{"-auth", "x"}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -auth") {
		t.Fatalf("-auth: %v", err)
	}
	// The webhook settings have no YAML key: the section sets them.
	path := writeFile(t, "edge.yaml", "auth_publish_webhook: http://x/y\n")
	_, err = LoadEdge("edge", nil, []string{"TRIBUTARY_CONFIG=" + path}, nil)
	wantErrors(t, err, `unknown key "auth_publish_webhook" (-auth-publish-webhook cannot be set in the file)`)
}
