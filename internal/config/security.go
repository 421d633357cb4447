package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// The settings that secure a process's connections to NATS and etcd and
// its admin API, shared by the edge and the controller. Passwords and
// tokens are read from a file named by a setting, or from an environment
// variable; never from a flag, which other users of the machine can see,
// nor from the YAML file, which is rarely kept secret.

// Environment variables that hold a secret itself. They are read by
// LoadEdge and LoadController besides the settings, and are the
// alternative to the matching -...-file setting.
const (
	natsPasswordEnv = envPrefix + "NATS_PASSWORD"
	natsTokenEnv    = envPrefix + "NATS_TOKEN"
	etcdPasswordEnv = envPrefix + "ETCD_PASSWORD"
	adminTokenEnv   = envPrefix + "ADMIN_TOKEN"
)

// secretEnvNames lists the secret variables, without the TRIBUTARY_
// prefix, for the check of unknown variables.
var secretEnvNames = []string{
	strings.TrimPrefix(natsPasswordEnv, envPrefix),
	strings.TrimPrefix(natsTokenEnv, envPrefix),
	strings.TrimPrefix(etcdPasswordEnv, envPrefix),
	strings.TrimPrefix(adminTokenEnv, envPrefix),
}

// MinAdminTokenLen is the shortest admin API token accepted, in bytes.
const MinAdminTokenLen = 16

// Secret is a password or a token. Printing or logging it shows where it
// came from, never its value: String returns "from TRIBUTARY_NATS_PASSWORD"
// or "from file /run/secrets/nats". Value returns the secret itself.
type Secret struct {
	value  string
	source string
}

// NewSecret returns the secret value, read from source (an environment
// variable, "file PATH").
func NewSecret(value, source string) Secret {
	return Secret{value: value, source: source}
}

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.value != "" }

// Value returns the secret; "" when it is not set. Keep it out of logs,
// error messages, span attributes and metric labels.
func (s Secret) Value() string { return s.value }

// Source returns where the secret came from; "" when it is not set.
func (s Secret) Source() string {
	if !s.IsSet() {
		return ""
	}
	return s.source
}

// String returns where the secret came from, "from SOURCE", or "none".
func (s Secret) String() string {
	if !s.IsSet() {
		return "none"
	}
	return "from " + s.source
}

// GoString is String, so that %#v does not print the value either.
func (s Secret) GoString() string { return s.String() }

// LogValue is String, for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText is String, for encoders such as encoding/json.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// NATSSecurity is how a process authenticates to the NATS servers of
// -nats-url and secures the connection. The zero value connects without
// credentials and without TLS (unless a URL says tls://).
//
// At most one way to authenticate is used: User with Password, Token,
// NKeyFile or CredsFile. Any of the TLS files, or TLSServerName, turns
// TLS on.
type NATSSecurity struct {
	// User is the user name; its password is Password.
	User string
	// PasswordFile names the file Password is read from.
	PasswordFile string
	// Password is the password of User: the TRIBUTARY_NATS_PASSWORD
	// variable or the content of PasswordFile.
	Password Secret
	// TokenFile names the file Token is read from.
	TokenFile string
	// Token is the authentication token: the TRIBUTARY_NATS_TOKEN
	// variable or the content of TokenFile.
	Token Secret
	// NKeyFile is a file holding an NKey user seed ("SU..."): the client
	// signs the server's challenge with it.
	NKeyFile string
	// CredsFile is a credentials file (a user JWT and its NKey seed), for
	// servers in operator (JWT) mode.
	CredsFile string
	// TLSCA is the PEM file of the certificate authorities the servers'
	// certificates are verified with; "" means the system's.
	TLSCA string
	// TLSCert and TLSKey are the PEM client certificate and key, for
	// servers that verify clients.
	TLSCert string
	TLSKey  string
	// TLSServerName is the name the servers' certificates must hold; ""
	// means the host of each URL.
	TLSServerName string
}

// TLS reports whether the settings ask for TLS.
func (s NATSSecurity) TLS() bool {
	return s.TLSCA != "" || s.TLSCert != "" || s.TLSKey != "" || s.TLSServerName != ""
}

// Methods returns the ways of authenticating the settings give:
// "user/password", "token", "nkey", "creds". Valid settings give at most
// one.
func (s NATSSecurity) Methods() []string {
	var m []string
	if s.User != "" || s.Password.IsSet() || s.PasswordFile != "" {
		m = append(m, "user/password")
	}
	if s.Token.IsSet() || s.TokenFile != "" {
		m = append(m, "token")
	}
	if s.NKeyFile != "" {
		m = append(m, "nkey")
	}
	if s.CredsFile != "" {
		m = append(m, "creds")
	}
	return m
}

// isZero reports whether nothing is set.
func (s NATSSecurity) isZero() bool { return len(s.Methods()) == 0 && !s.TLS() }

// EtcdSecurity is how a process authenticates to the etcd servers of
// -etcd-endpoints and secures the connection. The zero value connects
// without credentials and without TLS (unless an endpoint says https://).
type EtcdSecurity struct {
	// User is the etcd user name; its password is Password. A process
	// that authenticates with a client certificate instead (etcd's
	// --client-cert-auth, the certificate's common name being the user)
	// leaves it empty.
	User string
	// PasswordFile names the file Password is read from.
	PasswordFile string
	// Password is the password of User: the TRIBUTARY_ETCD_PASSWORD
	// variable or the content of PasswordFile.
	Password Secret
	// TLSCA is the PEM file of the certificate authorities the servers'
	// certificates are verified with; "" means the system's.
	TLSCA string
	// TLSCert and TLSKey are the PEM client certificate and key.
	TLSCert string
	TLSKey  string
}

// TLS reports whether the settings ask for TLS.
func (s EtcdSecurity) TLS() bool {
	return s.TLSCA != "" || s.TLSCert != "" || s.TLSKey != ""
}

// isZero reports whether nothing is set.
func (s EtcdSecurity) isZero() bool {
	return s.User == "" && !s.Password.IsSet() && s.PasswordFile == "" && !s.TLS()
}

// natsSecuritySettings binds the -nats-user ... -nats-tls-server-name
// settings.
func (fs *fieldSet) natsSecuritySettings(s *NATSSecurity) {
	fs.str(&s.User, "nats-user", "nats_user",
		"NATS user name; the password comes from "+natsPasswordEnv+" or -nats-password-file")
	fs.str(&s.PasswordFile, "nats-password-file", "nats_password_file",
		"file holding the password of -nats-user (or set "+natsPasswordEnv+")")
	fs.str(&s.TokenFile, "nats-token-file", "nats_token_file",
		"file holding the NATS authentication token (or set "+natsTokenEnv+")")
	fs.str(&s.NKeyFile, "nats-nkey-file", "nats_nkey_file",
		"file holding the NKey user seed (SU...) to authenticate to NATS with")
	fs.str(&s.CredsFile, "nats-creds-file", "nats_creds_file",
		"NATS credentials file (user JWT and NKey seed), for servers in operator mode")
	fs.str(&s.TLSCA, "nats-tls-ca", "nats_tls_ca",
		`PEM CA file to verify the NATS servers with ("" = the system's); any -nats-tls-* setting turns TLS on`)
	fs.str(&s.TLSCert, "nats-tls-cert", "nats_tls_cert",
		"PEM client certificate file for NATS servers that verify clients (with -nats-tls-key)")
	fs.str(&s.TLSKey, "nats-tls-key", "nats_tls_key", "PEM private key file of -nats-tls-cert")
	fs.str(&s.TLSServerName, "nats-tls-server-name", "nats_tls_server_name",
		`name the NATS servers' certificates must hold ("" = the host of each URL)`)
}

// etcdSecuritySettings binds the -etcd-user ... -etcd-tls-key settings.
func (fs *fieldSet) etcdSecuritySettings(s *EtcdSecurity) {
	fs.str(&s.User, "etcd-user", "etcd_user",
		"etcd user name; the password comes from "+etcdPasswordEnv+" or -etcd-password-file")
	fs.str(&s.PasswordFile, "etcd-password-file", "etcd_password_file",
		"file holding the password of -etcd-user (or set "+etcdPasswordEnv+")")
	fs.str(&s.TLSCA, "etcd-tls-ca", "etcd_tls_ca",
		`PEM CA file to verify the etcd servers with ("" = the system's); any -etcd-tls-* setting turns TLS on`)
	fs.str(&s.TLSCert, "etcd-tls-cert", "etcd_tls_cert",
		"PEM client certificate file for etcd (with -etcd-tls-key); with etcd's --client-cert-auth its common name is the etcd user")
	fs.str(&s.TLSKey, "etcd-tls-key", "etcd_tls_key", "PEM private key file of -etcd-tls-cert")
}

// adminTokenSetting binds -admin-token-file; api says which admin API it
// protects.
func (fs *fieldSet) adminTokenSetting(p *string, api string) {
	fs.str(p, "admin-token-file", "admin_token_file",
		"file holding the bearer token "+api+" requires on /api/v1/ (or set "+adminTokenEnv+
			`; "" and no variable = no token: the API is open)`)
}

// secretsFromEnv sets the secrets given by environment variables in
// environ (os.Environ form). The files are read later, by readSecretFiles,
// once the settings are valid.
func secretsFromEnv(environ []string, nats *NATSSecurity, etcd *EtcdSecurity, admin *Secret) {
	env := envMap(environ)
	get := func(name string) Secret {
		if v := env[name]; v != "" {
			return NewSecret(v, name)
		}
		return Secret{}
	}
	nats.Password = get(natsPasswordEnv)
	nats.Token = get(natsTokenEnv)
	etcd.Password = get(etcdPasswordEnv)
	*admin = get(adminTokenEnv)
}

// readSecretFiles reads the secrets named by the -...-file settings, for
// those not given by their environment variable, and checks that the
// other files of the settings can be read. It returns every problem,
// named by setting.
func readSecretFiles(nats *NATSSecurity, etcd *EtcdSecurity, adminFile string, admin *Secret) error {
	var p problems
	read := func(flag, path string, dst *Secret) {
		if path == "" || dst.IsSet() {
			return
		}
		v, err := readSecretFile(path)
		if err != nil {
			p.add(flag, err)
			return
		}
		*dst = NewSecret(v, "file "+path)
	}
	read("nats-password-file", nats.PasswordFile, &nats.Password)
	read("nats-token-file", nats.TokenFile, &nats.Token)
	read("etcd-password-file", etcd.PasswordFile, &etcd.Password)
	read("admin-token-file", adminFile, admin)
	if admin.IsSet() && len(admin.Value()) < MinAdminTokenLen {
		err := fmt.Errorf("the token is %d bytes long; it must be at least %d (openssl rand -hex 32 makes one)",
			len(admin.Value()), MinAdminTokenLen)
		if admin.Source() == adminTokenEnv {
			p = append(p, fmt.Errorf("config: %s: %w", adminTokenEnv, err))
		} else {
			p.add("admin-token-file", err)
		}
	}
	for _, f := range []struct{ flag, path string }{
		{"nats-nkey-file", nats.NKeyFile},
		{"nats-creds-file", nats.CredsFile},
		{"nats-tls-ca", nats.TLSCA},
		{"nats-tls-cert", nats.TLSCert},
		{"nats-tls-key", nats.TLSKey},
		{"etcd-tls-ca", etcd.TLSCA},
		{"etcd-tls-cert", etcd.TLSCert},
		{"etcd-tls-key", etcd.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			p.add(f.flag, err)
			continue
		}
		fh.Close()
	}
	return p.err()
}

// readSecretFile returns the content of a secret file without its final
// line break; an empty secret is an error.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// checkNATSSecurity adds the problems of the NATS security settings to p.
// natsURL is -nats-url: "" means the embedded server, which takes no
// credentials.
func (p *problems) checkNATSSecurity(natsURL string, s NATSSecurity) {
	if natsURL == "" {
		if !s.isZero() {
			p.addf(firstNATSFlag(s), "set, but -nats-url is empty: the embedded NATS server takes no credentials and no TLS (it listens on loopback); set -nats-url to a secured server")
		}
		return
	}
	if m := s.Methods(); len(m) > 1 {
		p.addf(firstNATSFlag(s), "%s: more than one way to authenticate to NATS; choose one", strings.Join(m, ", "))
	}
	if s.Password.IsSet() && s.PasswordFile != "" {
		p.addf("nats-password-file", "set, and %s too: give the password one way", natsPasswordEnv)
	}
	if s.Token.IsSet() && s.TokenFile != "" {
		p.addf("nats-token-file", "set, and %s too: give the token one way", natsTokenEnv)
	}
	p.checkLogin("nats", s.User, s.Password.IsSet() || s.PasswordFile != "", natsPasswordEnv, "")
	p.checkCertKey("nats", s.TLSCert, s.TLSKey)
	for _, u := range splitList(natsURL) {
		if pu, err := url.Parse(u); err == nil && pu.User != nil && len(s.Methods()) > 0 {
			p.addf("nats-url", "%q holds credentials, and -%s is set too: give them one way (preferably not in the URL)",
				redactURL(u), firstNATSFlag(s))
		}
	}
}

// checkLogin adds the problems of a user name without a password or a
// password without a user name; svc is "nats" or "etcd" (the flags'
// prefix), env the password's variable, hint added to the first problem.
func (p *problems) checkLogin(svc, user string, hasPassword bool, env, hint string) {
	if user != "" && !hasPassword {
		p.addf(svc+"-user", "%q has no password: set %s or -%s-password-file%s", user, env, svc, hint)
	}
	if user == "" && hasPassword {
		p.addf(svc+"-user", "empty, but a password is given (%s or -%s-password-file)", env, svc)
	}
}

// checkCertKey adds a problem when only one of a client certificate and
// its key is set; svc is "nats" or "etcd".
func (p *problems) checkCertKey(svc, cert, key string) {
	if (cert == "") != (key == "") {
		p.addf(svc+"-tls-cert", "-%s-tls-cert and -%s-tls-key go together", svc, svc)
	}
}

// firstNATSFlag returns the flag of the first NATS security setting set.
func firstNATSFlag(s NATSSecurity) string {
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"nats-user", s.User != ""},
		{"nats-password-file", s.PasswordFile != "" || s.Password.IsSet()},
		{"nats-token-file", s.TokenFile != "" || s.Token.IsSet()},
		{"nats-nkey-file", s.NKeyFile != ""},
		{"nats-creds-file", s.CredsFile != ""},
		{"nats-tls-ca", s.TLSCA != ""},
		{"nats-tls-cert", s.TLSCert != ""},
		{"nats-tls-key", s.TLSKey != ""},
	} {
		if f.set {
			return f.flag
		}
	}
	return "nats-tls-server-name"
}

// checkEtcdSecurity adds the problems of the etcd security settings to p.
// endpoints is -etcd-endpoints: "" means the embedded server, which takes
// no credentials.
func (p *problems) checkEtcdSecurity(endpoints string, s EtcdSecurity) {
	if endpoints == "" {
		if !s.isZero() {
			p.addf(firstEtcdFlag(s), "set, but -etcd-endpoints is empty: the embedded etcd server takes no credentials and no TLS (it listens on loopback); set -etcd-endpoints to a secured cluster")
		}
		return
	}
	if s.Password.IsSet() && s.PasswordFile != "" {
		p.addf("etcd-password-file", "set, and %s too: give the password one way", etcdPasswordEnv)
	}
	p.checkLogin("etcd", s.User, s.Password.IsSet() || s.PasswordFile != "", etcdPasswordEnv,
		" (a client certificate alone needs no -etcd-user)")
	p.checkCertKey("etcd", s.TLSCert, s.TLSKey)
	var plain []string
	for _, ep := range splitList(endpoints) {
		if strings.HasPrefix(ep, "http://") {
			plain = append(plain, ep)
		}
	}
	if s.TLS() && len(plain) > 0 {
		p.addf("etcd-endpoints", "%s: http:// would not use the -etcd-tls-* settings; write https:// or host:port", strings.Join(plain, ", "))
	}
}

// firstEtcdFlag returns the flag of the first etcd security setting set.
func firstEtcdFlag(s EtcdSecurity) string {
	switch {
	case s.User != "":
		return "etcd-user"
	case s.PasswordFile != "" || s.Password.IsSet():
		return "etcd-password-file"
	case s.TLSCA != "":
		return "etcd-tls-ca"
	case s.TLSCert != "":
		return "etcd-tls-cert"
	}
	return "etcd-tls-key"
}

// redactURL returns u with any password or token in it replaced by
// "xxxxx".
func redactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.User == nil {
		return u
	}
	if _, ok := pu.User.Password(); ok {
		pu.User = url.UserPassword(pu.User.Username(), "xxxxx")
	} else {
		pu.User = url.User("xxxxx")
	}
	return pu.String()
}

// checkAdminToken adds the problems of the admin token settings to p.
func (p *problems) checkAdminToken(file string, token Secret) {
	if token.IsSet() && file != "" {
		p.addf("admin-token-file", "set, and %s too: give the token one way", adminTokenEnv)
	}
}
