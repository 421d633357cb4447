package config

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDefaultEdge(t *testing.T) {
	e := DefaultEdge()
	if err := e.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if e.ID == "" {
		t.Fatal("empty default id")
	}
	want := Edge{
		ID: e.ID, RTMPAddr: ":1935", HTTPAddr: ":8080", EmbeddedNATSAddr: "127.0.0.1:4222",
		BusPrefix: "tributary", EmbeddedEtcdAddr: "127.0.0.1:2379", ControllerAddr: ":8081", LeaseTTL: 5 * time.Second, PublishPolicy: "reject",
		ReconnectGrace: 10 * time.Second, GOPCache: 8 * MiB, PlayerQueue: 16 * MiB,
		PlayerMaxLag: 10 * time.Second, AudioHold: 50 * time.Millisecond, DrainTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text",
		MaxConns: 10000, MaxPublishers: 1000, MaxPublishBitrate: 100 * Mbps,
		HandshakeTimeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, IdleTimeout: time.Minute,
	}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("DefaultEdge() = %+v\nwant %+v", e, want)
	}
	got, err := LoadEdge("edge", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("LoadEdge with nothing = %+v, want the defaults", got)
	}
}

func TestLoadEdgeLayers(t *testing.T) {
	path := writeFile(t, "edge.yaml", `
id: edge-from-file
rtmp_addr: ":1936"
nats_url: nats://file:4222
reconnect_grace: 20s
gop_cache: 1MiB
player_queue: 2097152
max_conns: 100
log_format: json
`)
	env := []string{
		"TRIBUTARY_CONFIG=" + path,
		"TRIBUTARY_ID=edge-from-env",
		"TRIBUTARY_NATS_URL=nats://env-a:4222, nats://env-b:4222",
		"TRIBUTARY_GOP_CACHE=2MiB",
		"TRIBUTARY_MAX_CONNS=200",
		"TRIBUTARY_DRAIN_TIMEOUT=0s",
		"TRIBUTARY_CONTROLLER_ADDR=127.0.0.1:9081",
	}
	args := []string{"-id", "edge-from-flag", "-max-conns=300", "-player-max-lag", "3s", "-log-level", "debug"}
	got, err := LoadEdge("edge", args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultEdge()
	want.ConfigFile = path
	want.ID = "edge-from-flag"                            // flag > env > file
	want.RTMPAddr = ":1936"                               // file
	want.NATSURL = "nats://env-a:4222, nats://env-b:4222" // env > file
	want.ReconnectGrace = 20 * time.Second                // file
	want.GOPCache = 2 * MiB                               // env > file
	want.PlayerQueue = 2 * MiB                            // file, plain integer
	want.MaxConns = 300                                   // flag > env > file
	want.DrainTimeout = 0                                 // env
	want.ControllerAddr = "127.0.0.1:9081"                // env
	want.PlayerMaxLag = 3 * time.Second                   // flag
	want.LogLevel, want.LogFormat = "debug", "json"       // flag, file
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if urls := got.NATSURLs(); !reflect.DeepEqual(urls, []string{"nats://env-a:4222", "nats://env-b:4222"}) {
		t.Fatalf("NATSURLs() = %q", urls)
	}
}

func TestLoadEdgeEmptyFlagOverride(t *testing.T) {
	path := writeFile(t, "edge.yaml", "nats_url: nats://file:4222\nrtmps_addr: ':1936'\ntls_cert: c.pem\ntls_key: k.pem\ncontroller_addr: ':9081'\n")
	env := []string{"TRIBUTARY_NATS_URL=nats://env:4222"}
	got, err := LoadEdge("edge", []string{"-config", path, "-nats-url=", "-rtmp-addr=", "-controller-addr="}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.NATSURL != "" || got.NATSURLs() != nil || got.RTMPAddr != "" || got.RTMPSAddr != ":1936" || got.ControllerAddr != "" {
		t.Fatalf("got %+v", got)
	}
}

func TestLoadEdgeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		args []string
		want []string
	}{
		{
			name: "unknown YAML key",
			file: "id: a\nrtmp_adr: ':1935'\n",
			want: []string{`edge.yaml:2: unknown key "rtmp_adr" (did you mean rtmp_addr?)`},
		},
		{
			name: "YAML type error",
			file: "max_conns: lots\nreconnect_grace: 10\ngop_cache: 8XiB\n",
			want: []string{"edge.yaml:1: max_conns: want an integer", "edge.yaml:2: reconnect_grace: want a duration", `edge.yaml:3: gop_cache: "8XiB": unknown unit`},
		},
		{
			name: "env typo",
			env:  []string{"TRIBUTARY_RTMP_ADR=:1935"},
			want: []string{"unknown environment variable TRIBUTARY_RTMP_ADR (did you mean TRIBUTARY_RTMP_ADDR?)"},
		},
		{
			name: "bad env value",
			env:  []string{"TRIBUTARY_RECONNECT_GRACE=abc"},
			want: []string{`TRIBUTARY_RECONNECT_GRACE (-reconnect-grace): want a duration such as 10s, 1m30s or 250ms, got "abc"`},
		},
		{
			name: "invalid values name their origin",
			file: "log_level: loud\nreconnect_grace: 0s\n",
			env:  []string{"TRIBUTARY_MAX_CONNS=-1", "TRIBUTARY_GOP_CACHE=1KiB"},
			args: []string{"-gop-cache=2KiB", "-bus-prefix=a.b"},
			want: []string{
				`-log-level: "loud": want debug, info, warn or error (from log_level at `,
				`edge.yaml:1)`,
				"-reconnect-grace: 0s: must be greater than 0 (from reconnect_grace at ",
				"-max-conns: -1: must be 0 (unlimited) or more (from TRIBUTARY_MAX_CONNS)",
				"-gop-cache: 2KiB: must be at least 64KiB\n",
				`-bus-prefix: "a.b": character '.' at offset 1 is not allowed; use A-Z, a-z, 0-9, '_', '-'` + "\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config=" + writeFile(t, "edge.yaml", tc.file)}, args...)
			}
			got, err := LoadEdge("edge", args, tc.env, nil)
			wantErrors(t, errors.Join(err, errors.New("config: end")), tc.want...)
			if err == nil {
				t.Fatal("no error")
			}
			if !reflect.DeepEqual(got, Edge{}) {
				t.Fatalf("LoadEdge returned %+v with an error, want the zero Edge", got)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	e := Edge{
		ID:               "bad id",
		RTMPAddr:         "localhost",
		RTMPSAddr:        ":1936",
		HTTPAddr:         ":1936",
		NATSURL:          "http://nats:4222,nats://:4222",
		BusPrefix:        "",
		EtcdEndpoints:    "etcd:2379,grpc://etcd:2379,etcd",
		ControllerAddr:   "8081",
		LeaseTTL:         time.Second,
		PublishPolicy:    "newest",
		ReconnectGrace:   -time.Second,
		GOPCache:         64*KiB - 1,
		PlayerQueue:      0,
		PlayerMaxLag:     0,
		MaxConns:         -5,
		DrainTimeout:     -time.Millisecond,
		LogLevel:         "verbose",
		LogFormat:        "xml",
		EmbeddedNATSAddr: "ignored because -nats-url is set",
	}
	err := e.Validate()
	want := []string{
		`config: -id: "bad id": character ' ' at offset 3 is not allowed; use A-Z, a-z, 0-9, '.', '_', '-'`,
		`config: -rtmp-addr: "localhost": missing port in address`,
		"config: -tls-cert: required when -rtmps-addr is set",
		"config: -tls-key: required when -rtmps-addr is set",
		`config: -nats-url: "http://nats:4222": scheme "http" is not one of nats, tls, ws, wss`,
		`config: -nats-url: "nats://:4222": no host`,
		"config: -bus-prefix: empty; want one or more of A-Z, a-z, 0-9, '_', '-'",
		`config: -etcd-endpoints: "grpc://etcd:2379": scheme "grpc" is not one of http, https`,
		`config: -etcd-endpoints: "etcd": no port (etcd serves clients on 2379 by default)`,
		`config: -controller-addr: "8081": missing port in address`,
		"config: -lease-ttl: 1s: must be at least 2s",
		`config: -publish-policy: "newest": must be reject or takeover`,
		"config: -reconnect-grace: -1s: must be greater than 0",
		"config: -gop-cache: 65535: must be at least 64KiB",
		"config: -player-queue: 0: must be at least 64KiB",
		"config: -player-max-lag: 0s: must be greater than 0",
		"config: -max-conns: -5: must be 0 (unlimited) or more",
		"config: -handshake-timeout: 0s: must be greater than 0",
		"config: -connect-timeout: 0s: must be greater than 0",
		"config: -drain-timeout: -1ms: must be 0 or more",
		`config: -log-level: "verbose": want debug, info, warn or error`,
		`config: -log-format: "xml": want text or json`,
		`config: -http-addr: ":1936" is also the address of -rtmps-addr`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("Validate:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	// Every problem names a real flag.
	d := DefaultEdge()
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

func TestValidateCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Edge)
		want string // "" when the edge is valid
	}{
		{name: "RTMPS only", mod: func(e *Edge) { e.RTMPAddr, e.RTMPSAddr, e.TLSCert, e.TLSKey = "", ":1936", "c", "k" }},
		{name: "RTMP and RTMPS", mod: func(e *Edge) { e.RTMPSAddr, e.TLSCert, e.TLSKey = ":1936", "c", "k" }},
		{name: "no listener", mod: func(e *Edge) { e.RTMPAddr = "" }, want: "-rtmp-addr: empty, which disables plain RTMP, but -rtmps-addr is empty too"},
		{name: "IPv6 address", mod: func(e *Edge) { e.RTMPAddr = "[::1]:1935" }},
		{name: "IPv6 zone", mod: func(e *Edge) { e.RTMPAddr = "[fe80::1%eth0]:1935" }},
		{name: "host name and service port", mod: func(e *Edge) { e.HTTPAddr = "health.local:http-alt" }},
		{name: "port 0", mod: func(e *Edge) { e.HTTPAddr = "127.0.0.1:0" }},
		{name: "port 65535", mod: func(e *Edge) { e.HTTPAddr = ":65535" }},
		{name: "port too big", mod: func(e *Edge) { e.HTTPAddr = ":65536" }, want: `-http-addr: ":65536": port 65536 is out of range 0-65535`},
		{name: "empty port", mod: func(e *Edge) { e.HTTPAddr = "host:" }, want: `-http-addr: "host:": missing port`},
		{name: "bad service", mod: func(e *Edge) { e.HTTPAddr = ":-x" }, want: `port "-x" is neither a number nor a service name`},
		{name: "bad host", mod: func(e *Edge) { e.HTTPAddr = "a b:80" }, want: `"a b" is neither an IP address nor a host name`},
		{name: "unbracketed IPv6", mod: func(e *Edge) { e.HTTPAddr = "::1:80" }, want: `-http-addr: "::1:80": too many colons in address`},
		{name: "no HTTP address", mod: func(e *Edge) { e.HTTPAddr = "" }, want: "-http-addr: required"},
		{name: "same RTMP and HTTP address", mod: func(e *Edge) { e.HTTPAddr = ":1935" }, want: `-http-addr: ":1935" is also the address of -rtmp-addr`},
		{name: "embedded NATS clash", mod: func(e *Edge) { e.EmbeddedNATSAddr = ":8080" }, want: `-embedded-nats-addr: ":8080" is also the address of -http-addr`},
		{name: "embedded NATS unused", mod: func(e *Edge) { e.EmbeddedNATSAddr, e.NATSURL = "", "nats://a:4222" }},
		{name: "embedded NATS missing", mod: func(e *Edge) { e.EmbeddedNATSAddr = "" }, want: "-embedded-nats-addr: required when -nats-url is empty"},
		{name: "embedded NATS bad", mod: func(e *Edge) { e.EmbeddedNATSAddr = "4222" }, want: `-embedded-nats-addr: "4222": missing port in address`},
		{name: "NATS URLs", mod: func(e *Edge) { e.NATSURL = "nats://a:4222, tls://b:4443,ws://c,wss://d:443/path,e:4222,user:pw@f" }},
		{name: "NATS URL only commas", mod: func(e *Edge) { e.NATSURL = " , " }, want: `-nats-url: " , " holds no URL`},
		{name: "NATS URL bad port", mod: func(e *Edge) { e.NATSURL = "nats://a:99999" }, want: `-nats-url: "nats://a:99999": port 99999 is out of range 1-65535`},
		{name: "NATS URL unparsable", mod: func(e *Edge) { e.NATSURL = "nats://a b" }, want: `-nats-url: "nats://a b": invalid character " " in host name`},
		{name: "no controller", mod: func(e *Edge) { e.ControllerAddr = "" }},
		{name: "controller address", mod: func(e *Edge) { e.ControllerAddr = "127.0.0.1:0" }},
		{name: "controller address bad", mod: func(e *Edge) { e.ControllerAddr = "localhost" }, want: `-controller-addr: "localhost": missing port in address`},
		{name: "controller address bad with external etcd", mod: func(e *Edge) { e.ControllerAddr, e.EtcdEndpoints = ":99999", "etcd:2379" },
			want: `-controller-addr: ":99999": port 99999 is out of range 0-65535`},
		{name: "controller and HTTP clash", mod: func(e *Edge) { e.ControllerAddr = ":8080" }, want: `-controller-addr: ":8080" is also the address of -http-addr`},
		{name: "controller and embedded etcd clash", mod: func(e *Edge) { e.ControllerAddr = "127.0.0.1:2379" },
			want: `-controller-addr: "127.0.0.1:2379" is also the address of -embedded-etcd-addr`},
		{name: "controller and embedded NATS clash", mod: func(e *Edge) { e.EmbeddedNATSAddr = ":8081" },
			want: `-controller-addr: ":8081" is also the address of -embedded-nats-addr`},
		{name: "controller address unused with external etcd", mod: func(e *Edge) { e.ControllerAddr, e.EtcdEndpoints = ":8080", "etcd:2379" }},
		{name: "id 128 bytes", mod: func(e *Edge) { e.ID = strings.Repeat("a", 128) }},
		{name: "id 129 bytes", mod: func(e *Edge) { e.ID = strings.Repeat("a", 129) }, want: "-id: 129 bytes long, more than 128"},
		{name: "id empty", mod: func(e *Edge) { e.ID = "" }, want: "-id: empty"},
		{name: "id all allowed bytes", mod: func(e *Edge) { e.ID = "Edge-1.eu_west" }},
		{name: "id unicode", mod: func(e *Edge) { e.ID = "édge" }, want: `-id: "édge": character 'é' at offset 0 is not allowed`},
		{name: "bus prefix token", mod: func(e *Edge) { e.BusPrefix = "Prod_bus-2" }},
		{name: "bus prefix wildcard", mod: func(e *Edge) { e.BusPrefix = "a*" }, want: `-bus-prefix: "a*": character '*' at offset 1`},
		{name: "queue limits", mod: func(e *Edge) { e.GOPCache, e.PlayerQueue = 64*KiB, 64*KiB }},
		{name: "zero drain and unlimited conns", mod: func(e *Edge) { e.DrainTimeout, e.MaxConns = 0, 0 }},
		{name: "log options any case", mod: func(e *Edge) { e.LogLevel, e.LogFormat = "WARN", "JSON" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := DefaultEdge()
			tc.mod(&e)
			err := e.Validate()
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

func TestEdgeHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out bytes.Buffer
		_, err := LoadEdge("tributary-edge", []string{arg}, nil, &out)
		if err != flag.ErrHelp {
			t.Fatalf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
		text := out.String()
		if !strings.HasPrefix(text, "Usage of tributary-edge:\n") {
			t.Fatalf("%s: usage starts %q", arg, text[:min(len(text), 40)])
		}
		e := DefaultEdge()
		for _, s := range e.fields().settings {
			if s.flag == "" {
				if !strings.Contains(text, "  yaml "+s.key+" ") {
					t.Errorf("usage lacks the YAML section %s", s.key)
				}
				continue
			}
			want := "(env " + s.env + ")"
			if s.key != "" {
				want = "(env " + s.env + ", yaml " + s.key + ")"
			}
			if !strings.Contains(text, "  -"+s.flag+" ") || !strings.Contains(text, want) {
				t.Errorf("usage lacks -%s with %q", s.flag, want)
			}
		}
		// Columns are aligned with spaces; compare with runs of spaces
		// squeezed.
		squeezed := regexp.MustCompile(` {3,}`).ReplaceAllString(text, "   ")
		for _, want := range []string{
			`  -rtmp-addr string   RTMP listen address ("" disables plain RTMP; -rtmps-addr is then required) (env TRIBUTARY_RTMP_ADDR, yaml rtmp_addr) (default ":1935")`,
			`(env TRIBUTARY_RECONNECT_GRACE, yaml reconnect_grace) (default 10s)`,
			`(env TRIBUTARY_PLAYER_QUEUE, yaml player_queue) (default 16MiB)`,
			`(env TRIBUTARY_ID, yaml id) (default host name ("edge" if unknown))`,
			`(env TRIBUTARY_MAX_CONNS_PER_IP, yaml max_conns_per_ip)` + "\n",
		} {
			if !strings.Contains(squeezed, want) {
				t.Errorf("usage lacks %q:\n%s", want, text)
			}
		}
	}
}

func TestEdgeUsage(t *testing.T) {
	md := EdgeUsage()
	if md != EdgeUsage() {
		t.Fatal("EdgeUsage is not deterministic")
	}
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	e := DefaultEdge()
	settings := e.fields().settings
	if len(settings) != 50 || len(lines) != 2+len(settings) {
		t.Fatalf("%d settings, %d lines:\n%s", len(settings), len(lines), md)
	}
	if lines[0] != "| flag | env | yaml | default | meaning |" {
		t.Fatalf("header %q", lines[0])
	}
	for i, s := range settings {
		if s.flag == "" {
			if !strings.HasPrefix(lines[2+i], "| — | — | `"+s.key+"` | ") {
				t.Errorf("line %q does not start with the YAML section %s", lines[2+i], s.key)
			}
			continue
		}
		if !strings.HasPrefix(lines[2+i], "| `-"+s.flag+"` | `"+s.env+"` | ") {
			t.Errorf("line %q does not start with -%s and %s", lines[2+i], s.flag, s.env)
		}
		if strings.Count(lines[2+i], " | ")-strings.Count(lines[2+i], `\|`) != 4 {
			t.Errorf("line %q does not have 5 cells", lines[2+i])
		}
	}
	for _, want := range []string{
		"| `-config` | `TRIBUTARY_CONFIG` | — | `\"\"` | YAML file to read settings from |",
		"| `-id` | `TRIBUTARY_ID` | `id` | host name (\"edge\" if unknown) |",
		"| `-rtmp-addr` | `TRIBUTARY_RTMP_ADDR` | `rtmp_addr` | `:1935` |",
		"| `-nats-url` | `TRIBUTARY_NATS_URL` | `nats_url` | `\"\"` |",
		"| `-gop-cache` | `TRIBUTARY_GOP_CACHE` | `gop_cache` | `8MiB` |",
		"| `-max-conns` | `TRIBUTARY_MAX_CONNS` | `max_conns` | `10000` |",
		"| `-max-conns-per-ip` | `TRIBUTARY_MAX_CONNS_PER_IP` | `max_conns_per_ip` | `0` |",
		"| `-max-publish-bitrate` | `TRIBUTARY_MAX_PUBLISH_BITRATE` | `max_publish_bitrate` | `100Mbps` |",
		"| `-drain-timeout` | `TRIBUTARY_DRAIN_TIMEOUT` | `drain_timeout` | `30s` |",
		"| `-controller-addr` | `TRIBUTARY_CONTROLLER_ADDR` | `controller_addr` | `:8081` |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

func TestEdgeSettingsAreUnique(t *testing.T) {
	e := DefaultEdge()
	seen := map[string]bool{}
	for _, s := range e.fields().settings {
		for _, name := range []string{"-" + s.flag, s.env, "yaml:" + s.key} {
			if name == "yaml:" {
				continue
			}
			if seen[name] {
				t.Errorf("%s bound twice", name)
			}
			seen[name] = true
		}
		if s.key != "" && s.flag != "" && s.key != strings.ReplaceAll(s.flag, "-", "_") {
			t.Errorf("-%s has YAML key %s, want the flag name with '_'", s.flag, s.key)
		}
	}
}

func TestNATSURLs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"nats://a:4222", []string{"nats://a:4222"}},
		{" nats://a:4222 ,, tls://b:4443 ", []string{"nats://a:4222", "tls://b:4443"}},
	} {
		if got := (Edge{NATSURL: tc.in}).NATSURLs(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NATSURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
