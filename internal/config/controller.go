package config

import (
	"io"
	"os"
	"time"
)

// defaultControllerID is the controller id when the host name is unknown
// or not a valid id.
const defaultControllerID = "controller"

// minLeaseTTL is the shortest etcd lease TTL a process accepts.
const minLeaseTTL = 2 * time.Second

// Controller is the configuration of a controller process.
// DefaultController gives the defaults, LoadController the layered
// configuration, Validate the checks.
type Controller struct {
	// ConfigFile is the YAML file the configuration was read from; "" if
	// none.
	ConfigFile string
	// ID names the controller replica: 1 to 128 bytes of ASCII letters,
	// digits, '.', '_' and '-'. The default is the host name. It is the
	// value of the leader election and the author of drain requests.
	ID string
	// HTTPAddr is the listen address of the admin API and the health
	// endpoints (/healthz, /readyz).
	HTTPAddr string
	// AdminTokenFile names the file AdminToken is read from.
	AdminTokenFile string
	// AdminToken is the bearer token the admin API requires: the
	// TRIBUTARY_ADMIN_TOKEN variable or the content of AdminTokenFile.
	// Unset, the API is open.
	AdminToken Secret
	// NATSURL is one or more NATS server URLs, comma-separated; "" starts
	// an embedded NATS server on EmbeddedNATSAddr. See NATSURLs.
	NATSURL string
	// EmbeddedNATSAddr is where the embedded NATS server listens when
	// NATSURL is empty.
	EmbeddedNATSAddr string
	// BusPrefix is the first token of every bus subject (the events the
	// controller publishes) and the first segment of the cluster's etcd
	// keys: ASCII letters, digits, '_' and '-'. It must be the edges'.
	BusPrefix string
	// EtcdEndpoints is one or more etcd endpoints, comma-separated; ""
	// starts an embedded etcd server on EmbeddedEtcdAddr. See
	// EtcdEndpointList.
	EtcdEndpoints string
	// EmbeddedEtcdAddr is where the embedded etcd server serves clients
	// when EtcdEndpoints is empty.
	EmbeddedEtcdAddr string
	// EmbeddedEtcdDir is the embedded etcd server's data directory; ""
	// means a directory per address under the user's cache directory, so
	// that stream epochs keep growing across restarts.
	EmbeddedEtcdDir string
	// NATSSecurity is how the controller authenticates to NATSURL's
	// servers and secures the connection (docs/security.md).
	NATSSecurity NATSSecurity
	// EtcdSecurity is how the controller authenticates to
	// EtcdEndpoints' servers and secures the connection
	// (docs/security.md).
	EtcdSecurity EtcdSecurity
	// LeaseTTL is the TTL of the controller's etcd lease, which holds its
	// leadership: a leader that dies without resigning is replaced within
	// about this long.
	LeaseTTL time.Duration
	// ReconnectGrace is how long a stream may stay unclaimed before the
	// leader publishes its stopped event; a new claim within it is
	// announced as taken-over instead. It is meant to equal the edges'
	// setting of the same name, after which their players are told the
	// stream ended.
	ReconnectGrace time.Duration
	// ReapGrace is how long a stream claim may point to an edge that is
	// not registered (or registered under another lease) before the
	// leader deletes it.
	ReapGrace time.Duration
	// LogLevel is debug, info, warn or error (see NewLogger).
	LogLevel string
	// LogFormat is text or json (see NewLogger).
	LogFormat string
}

// DefaultController returns the controller defaults. The id is the host
// name, or "controller" if the host name is unknown or not a valid id.
func DefaultController() Controller {
	id, err := os.Hostname()
	if err != nil || checkToken(id, maxIDLen, idExtra) != nil {
		id = defaultControllerID
	}
	return Controller{
		ID:               id,
		HTTPAddr:         ":8081",
		EmbeddedNATSAddr: "127.0.0.1:4222",
		BusPrefix:        "tributary",
		EmbeddedEtcdAddr: "127.0.0.1:2379",
		LeaseTTL:         5 * time.Second,
		ReconnectGrace:   10 * time.Second,
		ReapGrace:        5 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

// fields binds the controller's settings to the fields of c; the values c
// holds are the defaults.
func (c *Controller) fields() *fieldSet {
	fs := &fieldSet{}
	fs.configFile(&c.ConfigFile, "YAML file to read settings from")
	fs.str(&c.ID, "id", "id",
		"controller id, the value of the leader election: 1-128 bytes of A-Z a-z 0-9 . _ -").
		describeDefault(`host name ("controller" if unknown)`)
	fs.str(&c.HTTPAddr, "http-addr", "http_addr",
		"HTTP listen address of the admin API (/api/v1/...) and health (/healthz, /readyz)")
	fs.adminTokenSetting(&c.AdminTokenFile, "the admin API")
	fs.natsSettings(&c.NATSURL, &c.EmbeddedNATSAddr)
	fs.natsSecuritySettings(&c.NATSSecurity)
	fs.str(&c.BusPrefix, "bus-prefix", "bus_prefix",
		"event subject prefix and etcd key prefix, the edges' -bus-prefix: one token of A-Z a-z 0-9 _ -")
	fs.etcdSettings(&c.EtcdEndpoints, &c.EmbeddedEtcdAddr, &c.EmbeddedEtcdDir)
	fs.etcdSecuritySettings(&c.EtcdSecurity)
	fs.duration(&c.LeaseTTL, "lease-ttl", "lease_ttl",
		"TTL of the controller's etcd lease: how long a dead leader keeps the leadership (whole seconds, at least 2s)")
	fs.duration(&c.ReconnectGrace, "reconnect-grace", "reconnect_grace",
		"how long a stream stays unclaimed before its stopped event (a new claim within it is a taken-over); the edges' -reconnect-grace")
	fs.duration(&c.ReapGrace, "reap-grace", "reap_grace",
		"how long a claim may point to an unregistered edge before the leader deletes it")
	fs.str(&c.LogLevel, "log-level", "log_level", "log level: debug, info, warn or error")
	fs.str(&c.LogFormat, "log-format", "log_format", "log format: text or json")
	return fs
}

// LoadController returns the controller configuration: DefaultController,
// then the YAML file named by -config (or TRIBUTARY_CONFIG), then the
// TRIBUTARY_* environment variables in environ (os.Environ form,
// "NAME=value"), then the flags in args (the command line without the
// program name), each overriding the previous; then it validates the
// result. Errors and help work as for LoadEdge. Variables that name a
// setting of another Tributary program (the edge's TRIBUTARY_RTMP_ADDR)
// are ignored, so that the programs can share an environment.
func LoadController(name string, args, environ []string, usageOut io.Writer) (Controller, error) {
	c := DefaultController()
	fs := c.fields()
	if err := fs.load(name, args, environ, usageOut); err != nil {
		return Controller{}, err
	}
	secretsFromEnv(environ, &c.NATSSecurity, &c.EtcdSecurity, &c.AdminToken)
	if err := c.Validate(); err != nil {
		return Controller{}, fs.annotate(err)
	}
	if err := readSecretFiles(&c.NATSSecurity, &c.EtcdSecurity, c.AdminTokenFile, &c.AdminToken); err != nil {
		return Controller{}, fs.annotate(err)
	}
	return c, nil
}

// ControllerUsage returns a Markdown table of the controller's settings:
// flag, environment variable, YAML key, default and meaning.
func ControllerUsage() string {
	c := DefaultController()
	return c.fields().markdown()
}

// NATSURLs returns the URLs in NATSURL: split on commas, spaces trimmed,
// empty entries dropped. It returns nil when the controller runs an
// embedded NATS server.
func (c Controller) NATSURLs() []string {
	return splitList(c.NATSURL)
}

// EtcdEndpointList returns the endpoints in EtcdEndpoints: split on
// commas, spaces trimmed, empty entries dropped. It returns nil when the
// controller runs an embedded etcd server.
func (c Controller) EtcdEndpointList() []string {
	return splitList(c.EtcdEndpoints)
}

// Validate checks the configuration and returns every problem it finds,
// joined; each names the setting by its flag ("config: -http-addr: ...").
func (c Controller) Validate() error {
	var p problems
	p.add("id", checkToken(c.ID, maxIDLen, idExtra))
	if c.HTTPAddr == "" {
		p.addf("http-addr", "required: it serves the admin API, /healthz and /readyz")
	} else {
		p.add("http-addr", checkAddr(c.HTTPAddr))
	}

	p.checkNATSSettings(c.NATSURL, c.EmbeddedNATSAddr)
	p.checkNATSSecurity(c.NATSURL, c.NATSSecurity)
	p.add("bus-prefix", checkToken(c.BusPrefix, 0, busPrefixExtra))

	p.checkEtcdSettings(c.EtcdEndpoints, c.EmbeddedEtcdAddr)
	p.checkEtcdSecurity(c.EtcdEndpoints, c.EtcdSecurity)
	p.checkAdminToken(c.AdminTokenFile, c.AdminToken)
	if c.LeaseTTL < minLeaseTTL {
		p.addf("lease-ttl", "%s: must be at least %s", c.LeaseTTL, minLeaseTTL)
	}
	if c.ReconnectGrace <= 0 {
		p.addf("reconnect-grace", "%s: must be greater than 0", c.ReconnectGrace)
	}
	if c.ReapGrace <= 0 {
		p.addf("reap-grace", "%s: must be greater than 0", c.ReapGrace)
	}
	p.add("log-level", checkLogLevel(c.LogLevel))
	p.add("log-format", checkLogFormat(c.LogFormat))

	// Two listeners on the same address cannot both start.
	type listener struct{ flag, addr string }
	listeners := []listener{{"http-addr", c.HTTPAddr}}
	if c.NATSURL == "" {
		listeners = append(listeners, listener{"embedded-nats-addr", c.EmbeddedNATSAddr})
	}
	if c.EtcdEndpoints == "" {
		listeners = append(listeners, listener{"embedded-etcd-addr", c.EmbeddedEtcdAddr})
	}
	for i, a := range listeners {
		for _, b := range listeners[:i] {
			if a.addr != "" && a.addr == b.addr {
				p.addf(a.flag, "%q is also the address of -%s", a.addr, b.flag)
				break
			}
		}
	}
	return p.err()
}
