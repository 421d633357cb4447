package config

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultController(t *testing.T) {
	c := DefaultController()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.ID == "" {
		t.Fatal("empty default id")
	}
	want := Controller{
		ID: c.ID, HTTPAddr: ":8081", EmbeddedNATSAddr: "127.0.0.1:4222", BusPrefix: "tributary",
		EmbeddedEtcdAddr: "127.0.0.1:2379", LeaseTTL: 5 * time.Second, ReconnectGrace: 10 * time.Second,
		ReapGrace: 5 * time.Second, LogLevel: "info", LogFormat: "text",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("DefaultController() = %+v\nwant %+v", c, want)
	}
	got, err := LoadController("controller", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("LoadController with nothing = %+v, want the defaults", got)
	}
}

func TestLoadControllerLayers(t *testing.T) {
	path := writeFile(t, "controller.yaml", `
id: ctl-from-file
http_addr: ":9000"
etcd_endpoints: etcd-file:2379
lease_ttl: 3s
reap_grace: 1s
log_format: json
`)
	env := []string{
		"TRIBUTARY_CONFIG=" + path,
		"TRIBUTARY_ID=ctl-from-env",
		"TRIBUTARY_ETCD_ENDPOINTS=http://etcd-a:2379, https://etcd-b:2379",
		"TRIBUTARY_NATS_URL=nats://env:4222",
		"TRIBUTARY_RECONNECT_GRACE=30s",
	}
	args := []string{"-id", "ctl-from-flag", "-lease-ttl=4s", "-log-level", "debug", "-bus-prefix", "prod"}
	got, err := LoadController("controller", args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultController()
	want.ConfigFile = path
	want.ID = "ctl-from-flag"                                      // flag > env > file
	want.HTTPAddr = ":9000"                                        // file
	want.EtcdEndpoints = "http://etcd-a:2379, https://etcd-b:2379" // env > file
	want.NATSURL = "nats://env:4222"                               // env
	want.LeaseTTL = 4 * time.Second                                // flag > file
	want.ReconnectGrace = 30 * time.Second                         // env
	want.ReapGrace = time.Second                                   // file
	want.BusPrefix = "prod"                                        // flag
	want.LogLevel, want.LogFormat = "debug", "json"                // flag, file
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if eps := got.EtcdEndpointList(); !reflect.DeepEqual(eps, []string{"http://etcd-a:2379", "https://etcd-b:2379"}) {
		t.Fatalf("EtcdEndpointList() = %q", eps)
	}
	if urls := got.NATSURLs(); !reflect.DeepEqual(urls, []string{"nats://env:4222"}) {
		t.Fatalf("NATSURLs() = %q", urls)
	}
}

// TestSharedEnvironment checks that the edge and the controller can share
// one environment: each accepts (and ignores) the variables of the other's
// settings, reads the variables of settings they share, and still reports
// variables that no program knows.
func TestSharedEnvironment(t *testing.T) {
	shared := []string{
		"TRIBUTARY_RTMP_ADDR=:1940",         // edge only
		"TRIBUTARY_GOP_CACHE=4MiB",          // edge only
		"TRIBUTARY_PUBLISH_POLICY=takeover", // edge only
		"TRIBUTARY_REAP_GRACE=2s",           // controller only
		"TRIBUTARY_BUS_PREFIX=shared",       // both
		"TRIBUTARY_LEASE_TTL=3s",            // both
		"TRIBUTARY_RECONNECT_GRACE=7s",      // both
		"TRIBUTARY_NATS_URL=nats://bus:4222",
		"TRIBUTARY_ETCD_ENDPOINTS=etcd:2379",
		"PATH=/usr/bin", // not ours
	}
	c, err := LoadController("controller", nil, shared, nil)
	if err != nil {
		t.Fatalf("controller: %v", err)
	}
	if c.BusPrefix != "shared" || c.LeaseTTL != 3*time.Second || c.ReconnectGrace != 7*time.Second || c.ReapGrace != 2*time.Second {
		t.Fatalf("controller did not read the shared settings: %+v", c)
	}
	e, err := LoadEdge("edge", nil, shared, nil)
	if err != nil {
		t.Fatalf("edge: %v", err)
	}
	if e.BusPrefix != "shared" || e.RTMPAddr != ":1940" || e.GOPCache != 4*MiB || e.ReconnectGrace != 7*time.Second {
		t.Fatalf("edge did not read its settings: %+v", e)
	}

	// A name no program knows is still an error for both, with a hint
	// from the program's own settings first.
	bad := append([]string{"TRIBUTARY_REAP_GRACEE=1s", "TRIBUTARY_NO_SUCH_THING=1"}, shared...)
	_, err = LoadController("controller", nil, bad, nil)
	wantErrors(t, err, "unknown environment variables TRIBUTARY_NO_SUCH_THING, TRIBUTARY_REAP_GRACEE (did you mean TRIBUTARY_REAP_GRACE?)")
	_, err = LoadEdge("edge", nil, bad, nil)
	wantErrors(t, err, "TRIBUTARY_NO_SUCH_THING", "TRIBUTARY_REAP_GRACEE (did you mean TRIBUTARY_REAP_GRACE?)")

	// A value of the other program's setting is not parsed: the other
	// program reports it.
	_, err = LoadController("controller", nil, []string{"TRIBUTARY_GOP_CACHE=lots"}, nil)
	if err != nil {
		t.Fatalf("controller checked an edge setting: %v", err)
	}
}

// TestOtherProgramsKeyInFile checks that a YAML key of the other program is
// an error (each program reads its own file) that says whose key it is.
func TestOtherProgramsKeyInFile(t *testing.T) {
	path := writeFile(t, "controller.yaml", "rtmp_addr: ':1935'\nreap_grace: 1s\n")
	_, err := LoadController("controller", []string{"-config", path}, nil, nil)
	wantErrors(t, err, `controller.yaml:1: unknown key "rtmp_addr" (a setting of the edge; each program reads its own file)`)
	if strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("more than one problem: %v", err)
	}
	path = writeFile(t, "edge.yaml", "reap_grace: 1s\n")
	_, err = LoadEdge("edge", []string{"-config", path}, nil, nil)
	wantErrors(t, err, `edge.yaml:1: unknown key "reap_grace" (a setting of the controller; each program reads its own file)`)
}

func TestControllerValidateReportsEverything(t *testing.T) {
	c := Controller{
		ID:               "",
		HTTPAddr:         "localhost",
		NATSURL:          "http://nats:4222",
		BusPrefix:        "a.b",
		EtcdEndpoints:    "grpc://etcd:2379,etcd",
		LeaseTTL:         time.Second,
		ReconnectGrace:   -time.Second,
		ReapGrace:        -time.Millisecond,
		LogLevel:         "verbose",
		LogFormat:        "xml",
		EmbeddedNATSAddr: "ignored because -nats-url is set",
		EmbeddedEtcdAddr: "ignored because -etcd-endpoints is set",
	}
	err := c.Validate()
	want := []string{
		"config: -id: empty; want one or more of A-Z, a-z, 0-9, '.', '_', '-'",
		`config: -http-addr: "localhost": missing port in address`,
		`config: -nats-url: "http://nats:4222": scheme "http" is not one of nats, tls, ws, wss`,
		`config: -bus-prefix: "a.b": character '.' at offset 1 is not allowed; use A-Z, a-z, 0-9, '_', '-'`,
		`config: -etcd-endpoints: "grpc://etcd:2379": scheme "grpc" is not one of http, https`,
		`config: -etcd-endpoints: "etcd": no port (etcd serves clients on 2379 by default)`,
		"config: -lease-ttl: 1s: must be at least 2s",
		"config: -reconnect-grace: -1s: must be greater than 0",
		"config: -reap-grace: -1ms: must be greater than 0",
		`config: -log-level: "verbose": want debug, info, warn or error`,
		`config: -log-format: "xml": want text or json`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if lines := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(lines, want) {
		t.Fatalf("Validate:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	d := DefaultController()
	fs := d.fields()
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		se, ok := errors.AsType[*settingError](e)
		if !ok {
			t.Errorf("%v is not a settingError", e)
			continue
		}
		if fs.lookupFlag(se.flag) == nil {
			t.Errorf("%v names no flag", e)
		}
	}
}

func TestControllerValidateCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Controller)
		want string // "" when the configuration is valid
	}{
		{name: "external servers", mod: func(c *Controller) {
			c.NATSURL, c.EtcdEndpoints, c.EmbeddedNATSAddr, c.EmbeddedEtcdAddr = "nats://a:4222", "a:2379", "", ""
		}},
		{name: "short graces", mod: func(c *Controller) { c.ReconnectGrace, c.ReapGrace = time.Millisecond, time.Millisecond }},
		{name: "zero reconnect grace", mod: func(c *Controller) { c.ReconnectGrace = 0 }, want: "-reconnect-grace: 0s: must be greater than 0"},
		{name: "zero reap grace", mod: func(c *Controller) { c.ReapGrace = 0 }, want: "-reap-grace: 0s: must be greater than 0"},
		{name: "lease TTL 2s", mod: func(c *Controller) { c.LeaseTTL = 2 * time.Second }},
		{name: "no HTTP address", mod: func(c *Controller) { c.HTTPAddr = "" }, want: "-http-addr: required"},
		{name: "embedded NATS missing", mod: func(c *Controller) { c.EmbeddedNATSAddr = "" }, want: "-embedded-nats-addr: required when -nats-url is empty"},
		{name: "embedded etcd missing", mod: func(c *Controller) { c.EmbeddedEtcdAddr = "" }, want: "-embedded-etcd-addr: required when -etcd-endpoints is empty"},
		{name: "embedded etcd bad", mod: func(c *Controller) { c.EmbeddedEtcdAddr = "2379" }, want: `-embedded-etcd-addr: "2379": missing port in address`},
		{name: "etcd endpoints only commas", mod: func(c *Controller) { c.EtcdEndpoints = ", ," }, want: `-etcd-endpoints: ", ," holds no endpoint`},
		{name: "HTTP and embedded etcd clash", mod: func(c *Controller) { c.HTTPAddr = "127.0.0.1:2379" },
			want: `-embedded-etcd-addr: "127.0.0.1:2379" is also the address of -http-addr`},
		{name: "embedded NATS and etcd clash", mod: func(c *Controller) { c.EmbeddedEtcdAddr = c.EmbeddedNATSAddr },
			want: `-embedded-etcd-addr: "127.0.0.1:4222" is also the address of -embedded-nats-addr`},
		{name: "clash ignored for external etcd", mod: func(c *Controller) { c.EmbeddedEtcdAddr, c.EtcdEndpoints = c.EmbeddedNATSAddr, "etcd:2379" }},
		{name: "id with dots", mod: func(c *Controller) { c.ID = "ctl-1.eu_west" }},
		{name: "id unicode", mod: func(c *Controller) { c.ID = "ctl-é" }, want: `-id: "ctl-é": character 'é' at offset 4 is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultController()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error; want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			case tc.want != "" && strings.Count(err.Error(), "\n") != 0:
				t.Fatalf("more than one problem: %v", err)
			}
		})
	}
}

func TestLoadControllerErrorsNameOrigin(t *testing.T) {
	path := writeFile(t, "controller.yaml", "lease_ttl: 500ms\nreap_grace: soon\n")
	_, err := LoadController("controller", []string{"-config", path}, []string{"TRIBUTARY_LEASE_TTL=1s"}, nil)
	wantErrors(t, err, "controller.yaml:2: reap_grace: want a duration")
	_, err = LoadController("controller", []string{"-config", writeFile(t, "c.yaml", "lease_ttl: 500ms\n")}, nil, nil)
	wantErrors(t, err, "config: -lease-ttl: 500ms: must be at least 2s (from lease_ttl at ")
	_, err = LoadController("controller", nil, []string{"TRIBUTARY_LEASE_TTL=1s"}, nil)
	wantErrors(t, err, "config: -lease-ttl: 1s: must be at least 2s (from TRIBUTARY_LEASE_TTL)")
}

func TestControllerHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := LoadController("tributary-controller", []string{"-h"}, nil, &out)
	if err != flag.ErrHelp {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	text := out.String()
	if !strings.HasPrefix(text, "Usage of tributary-controller:\n") {
		t.Fatalf("usage starts %q", text[:min(len(text), 40)])
	}
	c := DefaultController()
	for _, s := range c.fields().settings {
		want := "(env " + s.env + ")"
		if s.key != "" {
			want = "(env " + s.env + ", yaml " + s.key + ")"
		}
		if !strings.Contains(text, "  -"+s.flag+" ") || !strings.Contains(text, want) {
			t.Errorf("usage lacks -%s with %q", s.flag, want)
		}
	}
	if !strings.Contains(text, `(default ":8081")`) || !strings.Contains(text, `(default host name ("controller" if unknown))`) {
		t.Errorf("usage lacks defaults:\n%s", text)
	}
}

func TestControllerUsage(t *testing.T) {
	md := ControllerUsage()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	c := DefaultController()
	settings := c.fields().settings
	if len(lines) != 2+len(settings) {
		t.Fatalf("%d settings, %d lines:\n%s", len(settings), len(lines), md)
	}
	for _, want := range []string{
		"| `-http-addr` | `TRIBUTARY_HTTP_ADDR` | `http_addr` | `:8081` |",
		"| `-lease-ttl` | `TRIBUTARY_LEASE_TTL` | `lease_ttl` | `5s` |",
		"| `-etcd-endpoints` | `TRIBUTARY_ETCD_ENDPOINTS` | `etcd_endpoints` | `\"\"` |",
		"| `-reap-grace` | `TRIBUTARY_REAP_GRACE` | `reap_grace` | `5s` |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

// TestSharedSettingsAgree checks that a setting both programs have is the
// same setting in both: same variable, YAML key and type, so that one
// value in a shared environment means the same to each.
func TestSharedSettingsAgree(t *testing.T) {
	e, c := DefaultEdge(), DefaultController()
	edge := map[string]*setting{}
	for _, s := range e.fields().settings {
		edge[s.flag] = s
	}
	shared := 0
	for _, s := range c.fields().settings {
		es, ok := edge[s.flag]
		if !ok {
			continue
		}
		shared++
		if es.env != s.env || es.key != s.key || es.typ != s.typ {
			t.Errorf("-%s: edge binds (%s, %s, %s), controller (%s, %s, %s)", s.flag, es.env, es.key, es.typ, s.env, s.key, s.typ)
		}
	}
	if shared < 10 {
		t.Fatalf("only %d shared settings", shared)
	}
	seen := map[string]bool{}
	for _, s := range c.fields().settings {
		if seen[s.flag] {
			t.Errorf("-%s bound twice", s.flag)
		}
		seen[s.flag] = true
		if s.key != "" && s.key != strings.ReplaceAll(s.flag, "-", "_") {
			t.Errorf("-%s has YAML key %s, want the flag name with '_'", s.flag, s.key)
		}
	}
}
