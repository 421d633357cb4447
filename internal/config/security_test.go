package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// The secrets of these tests; none may appear in an error, a log line or
// a printed configuration.
const (
	natsPassword = "nats-pass-3c9e1f"
	natsToken    = "nats-token-7a2d5b"
	etcdPassword = "etcd-pass-9b4e0c"
	adminToken   = "admin-token-5f8a1d6c2e"
)

// external are the settings that point both programs at external servers,
// which the security settings apply to.
var external = []string{"TRIBUTARY_NATS_URL=nats://nats:4222", "TRIBUTARY_ETCD_ENDPOINTS=etcd:2379"}

func TestLoadSecuritySettings(t *testing.T) {
	caFile := writeFile(t, "ca.pem", "not checked here")
	certFile := writeFile(t, "cert.pem", "x")
	keyFile := writeFile(t, "key.pem", "x")
	adminFile := writeFile(t, "admin", adminToken+"\n")
	yaml := writeFile(t, "edge.yaml", fmt.Sprintf(`
nats_url: tls://nats:4222
nats_user: edge
nats_tls_ca: %s
etcd_endpoints: https://etcd:2379
etcd_tls_ca: %s
etcd_tls_cert: %s
etcd_tls_key: %s
admin_token_file: %s
`, caFile, caFile, certFile, keyFile, adminFile))
	env := []string{"TRIBUTARY_CONFIG=" + yaml, "TRIBUTARY_NATS_PASSWORD=" + natsPassword}
	e, err := LoadEdge("edge", nil, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, et := e.NATSSecurity, e.EtcdSecurity
	if n.User != "edge" || n.Password.Value() != natsPassword || n.Password.Source() != "TRIBUTARY_NATS_PASSWORD" || n.TLSCA != caFile || !n.TLS() {
		t.Errorf("NATS security %+v", n)
	}
	if got := n.Methods(); len(got) != 1 || got[0] != "user/password" {
		t.Errorf("NATS methods %v", got)
	}
	if et.TLSCA != caFile || et.TLSCert != certFile || et.TLSKey != keyFile || !et.TLS() || et.User != "" {
		t.Errorf("etcd security %+v", et)
	}
	// The file's final line break is not part of the token.
	if e.AdminToken.Value() != adminToken || e.AdminToken.Source() != "file "+adminFile {
		t.Errorf("admin token %q from %q", e.AdminToken.Value(), e.AdminToken.Source())
	}

	// The controller reads the same settings, and the secrets from the
	// environment.
	c, err := LoadController("controller", []string{"-nats-token-file", writeFile(t, "tok", natsToken+"\r\n"), "-etcd-user", "ctl"},
		append(external, "TRIBUTARY_ETCD_PASSWORD="+etcdPassword, "TRIBUTARY_ADMIN_TOKEN="+adminToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSSecurity.Token.Value() != natsToken || c.EtcdSecurity.User != "ctl" || c.EtcdSecurity.Password.Value() != etcdPassword ||
		c.AdminToken.Value() != adminToken || c.AdminToken.Source() != "TRIBUTARY_ADMIN_TOKEN" {
		t.Errorf("controller security %+v %+v %v", c.NATSSecurity, c.EtcdSecurity, c.AdminToken)
	}
}

// TestSecretsNotShown prints and logs a loaded configuration every way
// the programs could, and finds no secret.
func TestSecretsNotShown(t *testing.T) {
	env := append(external[:len(external):len(external)],
		"TRIBUTARY_NATS_TOKEN="+natsToken, "TRIBUTARY_ETCD_PASSWORD="+etcdPassword, "TRIBUTARY_ADMIN_TOKEN="+adminToken)
	c, err := LoadController("controller", []string{"-etcd-user", "ctl"}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", c, c, c, c.AdminToken)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("config", "cfg", c, "token", c.AdminToken, "nats", c.NATSSecurity)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "cfg", c, "token", c.AdminToken)
	for _, s := range []string{natsToken, etcdPassword, adminToken} {
		if strings.Contains(out.String(), s) {
			t.Errorf("a secret shows:\n%s", out.String())
		}
	}
	for _, want := range []string{"from TRIBUTARY_ADMIN_TOKEN", "from TRIBUTARY_NATS_TOKEN", "from TRIBUTARY_ETCD_PASSWORD"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out.String())
		}
	}
	if s := (Secret{}).String(); s != "none" {
		t.Errorf("unset secret prints %q", s)
	}
}

func TestSecurityErrors(t *testing.T) {
	missing := "/nonexistent/tributary-test"
	short := writeFile(t, "short", "abc\n")
	empty := writeFile(t, "empty", "\n")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{{
		name: "embedded servers take no credentials",
		args: []string{"-nats-user", "u", "-etcd-tls-ca", "ca.pem"},
		env:  []string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword},
		want: []string{
			"config: -nats-user: set, but -nats-url is empty: the embedded NATS server takes no credentials",
			"config: -etcd-tls-ca: set, but -etcd-endpoints is empty",
		},
	}, {
		name: "user without password, password without user",
		args: []string{"-nats-user", "u"},
		env:  append(external[:2:2], "TRIBUTARY_ETCD_PASSWORD="+etcdPassword),
		want: []string{
			`config: -nats-user: "u" has no password: set TRIBUTARY_NATS_PASSWORD or -nats-password-file`,
			"config: -etcd-user: empty, but a password is given",
		},
	}, {
		name: "two ways",
		args: []string{"-nats-nkey-file", "seed.nk", "-nats-creds-file", "user.creds", "-nats-token-file", "tok"},
		env:  append(external[:2:2], "TRIBUTARY_NATS_TOKEN="+natsToken),
		want: []string{
			"config: -nats-token-file: token, nkey, creds: more than one way to authenticate to NATS; choose one",
			"config: -nats-token-file: set, and TRIBUTARY_NATS_TOKEN too: give the token one way",
		},
	}, {
		name: "pairs and schemes",
		args: []string{"-nats-tls-key", "k.pem", "-etcd-tls-cert", "c.pem", "-etcd-endpoints", "http://etcd:2379,etcd2:2379"},
		env:  external[:1],
		want: []string{
			"config: -nats-tls-cert: -nats-tls-cert and -nats-tls-key go together",
			"config: -etcd-tls-cert: -etcd-tls-cert and -etcd-tls-key go together",
			"config: -etcd-endpoints: http://etcd:2379: http:// would not use the -etcd-tls-* settings",
		},
	}, {
		name: "credentials in the URL and in a setting",
		args: []string{"-nats-url", "nats://u:" + natsPassword + "@nats:4222", "-nats-user", "u"},
		env:  []string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword},
		want: []string{`config: -nats-url: "nats://u:xxxxx@nats:4222" holds credentials, and -nats-user is set too`},
	}, {
		name: "files that cannot be read",
		args: []string{"-nats-password-file", missing, "-nats-user", "u", "-etcd-tls-ca", missing, "-admin-token-file", empty},
		env:  external,
		want: []string{
			"config: -nats-password-file: open " + missing,
			"config: -etcd-tls-ca: open " + missing,
			"config: -admin-token-file: " + empty + " is empty",
		},
	}, {
		name: "short admin token from a file",
		args: []string{"-admin-token-file", short},
		want: []string{"config: -admin-token-file: the token is 3 bytes long; it must be at least 16"},
	}, {
		name: "short admin token from the environment",
		env:  []string{"TRIBUTARY_ADMIN_TOKEN=abc"},
		want: []string{"config: TRIBUTARY_ADMIN_TOKEN: the token is 3 bytes long"},
	}, {
		name: "admin token twice",
		args: []string{"-admin-token-file", short},
		env:  []string{"TRIBUTARY_ADMIN_TOKEN=" + adminToken},
		want: []string{"config: -admin-token-file: set, and TRIBUTARY_ADMIN_TOKEN too: give the token one way"},
	}, {
		name: "misspelt secret variable",
		env:  []string{"TRIBUTARY_NATS_PASWORD=" + natsPassword},
		want: []string{"config: unknown environment variable TRIBUTARY_NATS_PASWORD (did you mean TRIBUTARY_NATS_PASSWORD?)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, load := range []func() error{
				func() error { _, err := LoadEdge("edge", tc.args, tc.env, &bytes.Buffer{}); return err },
				func() error { _, err := LoadController("controller", tc.args, tc.env, &bytes.Buffer{}); return err },
			} {
				err := load()
				wantErrors(t, err, tc.want...)
				for _, s := range []string{natsPassword, natsToken, etcdPassword, adminToken} {
					if err != nil && strings.Contains(err.Error(), s) {
						t.Errorf("the error shows a secret: %v", err)
					}
				}
			}
		})
	}
}

// TestSecretVariablesShared checks that the secret variables, read by both
// programs, are not unknown to either.
func TestSecretVariablesShared(t *testing.T) {
	env := append(external[:2:2], "TRIBUTARY_NATS_TOKEN="+natsToken, "TRIBUTARY_ADMIN_TOKEN="+adminToken)
	if _, err := LoadEdge("edge", nil, env, nil); err != nil {
		t.Error(err)
	}
	if _, err := LoadController("controller", nil, env, nil); err != nil {
		t.Error(err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:pw@h:4222": "nats://u:xxxxx@h:4222",
		"nats://tok@h:4222":  "nats://xxxxx@h:4222",
		"nats://h:4222":      "nats://h:4222",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	// A malformed URL with a password is reported without it.
	_, err := LoadController("controller", []string{"-nats-url", "nats://u:" + natsPassword + "@h:99999"}, nil, nil)
	wantErrors(t, err, `config: -nats-url: "nats://u:xxxxx@h:99999": port 99999 is out of range`)
	if strings.Contains(err.Error(), natsPassword) {
		t.Errorf("the error shows the password: %v", err)
	}
}
