package config

import (
	"io"
	"os"
	"time"
)

// Limits checked by Edge.Validate.
const (
	// maxIDLen is the longest edge id, in bytes.
	maxIDLen = 128
	// minQueueBytes is the smallest GOP cache and player queue.
	minQueueBytes = 64 * KiB
)

// defaultEdgeID is the edge id when the host name is unknown or not a valid
// id.
const defaultEdgeID = "edge"

// Edge is the configuration of an edge process. DefaultEdge gives the
// defaults, LoadEdge the layered configuration, Validate the checks.
type Edge struct {
	// ConfigFile is the YAML file the configuration was read from; "" if
	// none.
	ConfigFile string
	// ID names the edge in the cluster: 1 to 128 bytes of ASCII
	// letters, digits, '.', '_' and '-'. The default is the host name.
	ID string
	// RTMPAddr is the plain RTMP listen address; "" disables plain RTMP,
	// and then RTMPSAddr is required.
	RTMPAddr string
	// RTMPSAddr is the RTMPS listen address; "" disables RTMPS. When set,
	// TLSCert and TLSKey are required.
	RTMPSAddr string
	// TLSCert is the PEM certificate file (chain) for RTMPS.
	TLSCert string
	// TLSKey is the PEM private key file for RTMPS.
	TLSKey string
	// HTTPAddr is the listen address of the health endpoints (/healthz,
	// /readyz) and metrics.
	HTTPAddr string
	// NATSURL is one or more NATS server URLs, comma-separated; "" starts
	// an embedded NATS server on EmbeddedNATSAddr. See NATSURLs.
	NATSURL string
	// EmbeddedNATSAddr is where the embedded NATS server listens when
	// NATSURL is empty.
	EmbeddedNATSAddr string
	// BusPrefix is the first token of every media bus subject: one NATS
	// token of ASCII letters, digits, '_' and '-'. It is also the first
	// segment of the edge's etcd keys.
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
	// NATSSecurity is how the edge authenticates to NATSURL's servers
	// and secures the connection (docs/security.md).
	NATSSecurity NATSSecurity
	// EtcdSecurity is how the edge authenticates to EtcdEndpoints'
	// servers and secures the connection (docs/security.md).
	EtcdSecurity EtcdSecurity
	// ControllerAddr is the admin API listen address of the controller
	// the edge runs in-process when it runs the embedded etcd server
	// (EtcdEndpoints empty), so that one command runs the whole system;
	// "" runs none. With EtcdEndpoints set it is not used: controllers
	// then run as their own program.
	ControllerAddr string
	// AdminTokenFile names the file AdminToken is read from.
	AdminTokenFile string
	// AdminToken is the bearer token the in-process controller's admin
	// API requires: the TRIBUTARY_ADMIN_TOKEN variable or the content of
	// AdminTokenFile. Unset, the API is open.
	AdminToken Secret
	// LeaseTTL is the TTL of the edge's etcd lease: how long its claims
	// outlive it when it dies without releasing them.
	LeaseTTL time.Duration
	// PublishPolicy is what happens to a second publisher of a live
	// stream: "reject" or "takeover".
	PublishPolicy string
	// ReconnectGrace is how long players wait silently for a publisher
	// that vanished without a clean end before they are told the stream
	// ended.
	ReconnectGrace time.Duration
	// GOPCache caps each stream's fast-start cache (metadata, sequence
	// headers and the current GOP).
	GOPCache Bytes
	// PlayerQueue caps each player's queue; a player over it drops to the
	// next keyframe.
	PlayerQueue Bytes
	// PlayerMaxLag is how long a player may stay continuously behind
	// before it is disconnected.
	PlayerMaxLag time.Duration
	// AudioHold: audio arriving within this long after a video frame
	// leaves with the next video frame, in one socket write per player;
	// 0 writes every frame at once.
	AudioHold time.Duration
	// MaxConns caps the RTMP and RTMPS connections of the edge together;
	// 0 means unlimited.
	MaxConns int
	// MaxConnsPerIP caps the connections from one client address: an
	// IPv4 address, or an IPv6 /64; 0 means unlimited.
	MaxConnsPerIP int
	// MaxPublishers caps the streams published on the edge at once; 0
	// means unlimited.
	MaxPublishers int
	// MaxPlayersPerStream caps the players of one stream on the edge; 0
	// means unlimited.
	MaxPlayersPerStream int
	// MaxPublishBitrate caps the bit rate of each publish, measured over
	// a sliding window with a burst allowance (see internal/edge); 0
	// means unlimited.
	MaxPublishBitrate Bitrate
	// HandshakeTimeout bounds the RTMP handshake, and the TLS handshake
	// before it for RTMPS.
	HandshakeTimeout time.Duration
	// ConnectTimeout bounds the wait for the connect command once the
	// handshake is done.
	ConnectTimeout time.Duration
	// IdleTimeout closes a connection on which nothing arrived for this
	// long; 0 disables it.
	IdleTimeout time.Duration
	// Auth holds the publish and play rules (the auth section of the
	// YAML file); see AuthRules for the rules in force.
	Auth Auth
	// AuthPublishWebhook and AuthPlayWebhook, when set, are the webhook
	// URLs of the default publish and play rules (see AuthRules).
	AuthPublishWebhook, AuthPlayWebhook string
	// DrainTimeout is how long sessions get, on SIGTERM, before they are
	// closed.
	DrainTimeout time.Duration
	// LogLevel is debug, info, warn or error (see NewLogger).
	LogLevel string
	// LogFormat is text or json (see NewLogger).
	LogFormat string
}

// DefaultEdge returns the edge defaults. The id is the host name, or
// "edge" if the host name is unknown or not a valid id.
func DefaultEdge() Edge {
	id, err := os.Hostname()
	if err != nil || checkToken(id, maxIDLen, idExtra) != nil {
		id = defaultEdgeID
	}
	return Edge{
		ID:               id,
		RTMPAddr:         ":1935",
		HTTPAddr:         ":8080",
		EmbeddedNATSAddr: "127.0.0.1:4222",
		BusPrefix:        "tributary",
		EmbeddedEtcdAddr: "127.0.0.1:2379",
		ControllerAddr:   ":8081",
		LeaseTTL:         5 * time.Second,
		PublishPolicy:    "reject",
		ReconnectGrace:   10 * time.Second,
		GOPCache:         8 * MiB,
		PlayerQueue:      16 * MiB,
		PlayerMaxLag:     10 * time.Second,
		AudioHold:        50 * time.Millisecond,
		MaxConns:         10000,
		MaxPublishers:    1000,
		// A 4K60 encode is at most some 60 Mbit/s.
		MaxPublishBitrate: 100 * Mbps,
		HandshakeTimeout:  10 * time.Second,
		ConnectTimeout:    10 * time.Second,
		IdleTimeout:       60 * time.Second,
		DrainTimeout:      30 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
	}
}

// idExtra and busPrefixExtra are the bytes besides ASCII letters and
// digits allowed in an edge id and in the bus prefix.
const (
	idExtra        = "._-"
	busPrefixExtra = "_-"
)

// fields binds the edge's settings to the fields of e; the values e holds
// are the defaults.
func (e *Edge) fields() *fieldSet {
	fs := &fieldSet{}
	fs.configFile(&e.ConfigFile, "YAML file to read settings from")
	fs.str(&e.ID, "id", "id",
		"edge id in the cluster: 1-128 bytes of A-Z a-z 0-9 . _ -").
		describeDefault(`host name ("edge" if unknown)`)
	fs.str(&e.RTMPAddr, "rtmp-addr", "rtmp_addr",
		`RTMP listen address ("" disables plain RTMP; -rtmps-addr is then required)`)
	fs.str(&e.RTMPSAddr, "rtmps-addr", "rtmps_addr",
		`RTMPS listen address ("" disables; when set, -tls-cert and -tls-key are required)`)
	fs.str(&e.TLSCert, "tls-cert", "tls_cert", "PEM certificate file for RTMPS")
	fs.str(&e.TLSKey, "tls-key", "tls_key", "PEM private key file for RTMPS")
	fs.str(&e.HTTPAddr, "http-addr", "http_addr",
		"HTTP listen address for health (/healthz, /readyz) and metrics")
	fs.natsSettings(&e.NATSURL, &e.EmbeddedNATSAddr)
	fs.natsSecuritySettings(&e.NATSSecurity)
	fs.str(&e.BusPrefix, "bus-prefix", "bus_prefix",
		"media bus subject prefix and etcd key prefix: one token of A-Z a-z 0-9 _ -")
	fs.etcdSettings(&e.EtcdEndpoints, &e.EmbeddedEtcdAddr, &e.EmbeddedEtcdDir)
	fs.etcdSecuritySettings(&e.EtcdSecurity)
	fs.str(&e.ControllerAddr, "controller-addr", "controller_addr",
		`admin API address of the controller the edge runs in-process when it runs the embedded etcd server ("" = none); with -etcd-endpoints set, run cmd/controller instead`)
	fs.adminTokenSetting(&e.AdminTokenFile, "the in-process controller's admin API")
	fs.duration(&e.LeaseTTL, "lease-ttl", "lease_ttl",
		"TTL of the edge's etcd lease: how long the claims of a dead edge last (whole seconds, at least 2s)")
	fs.str(&e.PublishPolicy, "publish-policy", "publish_policy",
		"a second publisher of a live stream: reject (NetStream.Publish.BadName, unless the owner is gone, draining or silent for -reconnect-grace) or takeover (the newest wins)")
	fs.duration(&e.ReconnectGrace, "reconnect-grace", "reconnect_grace",
		"how long players wait silently for a vanished publisher before they are told the stream ended; and how long an owner may be silent before reject lets a new publisher take over")
	fs.bytes(&e.GOPCache, "gop-cache", "gop_cache",
		"per-stream fast-start cache cap (metadata, sequence headers, current GOP); at least 64KiB")
	fs.bytes(&e.PlayerQueue, "player-queue", "player_queue",
		"per-player queue cap before the player drops to the next keyframe; at least 64KiB")
	fs.duration(&e.PlayerMaxLag, "player-max-lag", "player_max_lag",
		"a player continuously behind for this long is disconnected")
	fs.duration(&e.AudioHold, "audio-hold", "audio_hold",
		"audio arriving within this long after a video frame waits for the next video frame and leaves with it, in one socket write per player (half the writes at 30 fps); 0 sends every frame at once; at most 1s")
	fs.integer(&e.MaxConns, "max-conns", "max_conns",
		"maximum RTMP and RTMPS connections in total; more are closed at accept (0 = unlimited)")
	fs.integer(&e.MaxConnsPerIP, "max-conns-per-ip", "max_conns_per_ip",
		"maximum connections from one client address (an IPv4 address, an IPv6 /64); more are closed at accept (0 = unlimited: keep it so behind a load balancer or NAT that hides client addresses)")
	fs.integer(&e.MaxPublishers, "max-publishers", "max_publishers",
		"maximum streams published on this edge at once; more publishes get NetStream.Publish.Failed (0 = unlimited)")
	fs.integer(&e.MaxPlayersPerStream, "max-players-per-stream", "max_players_per_stream",
		"maximum players of one stream on this edge; more plays get NetStream.Play.Failed (0 = unlimited)")
	fs.bitrate(&e.MaxPublishBitrate, "max-publish-bitrate", "max_publish_bitrate",
		"maximum bit rate of a publish, such as 8Mbps or 6000k: a publisher that sends more than 6 s of it within 5 s (1 s of burst allowance for keyframes) is disconnected (0 = unlimited; at least 64kbps)")
	fs.duration(&e.HandshakeTimeout, "handshake-timeout", "handshake_timeout",
		"time a client gets to complete the RTMP handshake (and, for RTMPS, the TLS handshake)")
	fs.duration(&e.ConnectTimeout, "connect-timeout", "connect_timeout",
		"time a client gets, after the handshake, to send its connect command")
	fs.duration(&e.IdleTimeout, "idle-timeout", "idle_timeout",
		"a connection on which nothing arrives for this long is closed (0 = never); players answer the edge's pings, so only dead or silent peers reach it")
	fs.authSection(&e.Auth,
		"publish and play authorization per application: stream keys, signed tokens, webhooks (docs/security.md)")
	fs.str(&e.AuthPublishWebhook, "auth-publish-webhook", "",
		"URL of the webhook that authorizes publishes in the applications not listed under auth.apps (sets auth.default.publish.webhook.url; docs/security.md)")
	fs.str(&e.AuthPlayWebhook, "auth-play-webhook", "",
		"URL of the webhook that authorizes plays in the applications not listed under auth.apps (sets auth.default.play.webhook.url)")
	fs.duration(&e.DrainTimeout, "drain-timeout", "drain_timeout",
		"on SIGTERM, how long sessions get before they are closed")
	fs.str(&e.LogLevel, "log-level", "log_level", "log level: debug, info, warn or error")
	fs.str(&e.LogFormat, "log-format", "log_format", "log format: text or json")
	return fs
}

// LoadEdge returns the edge configuration: DefaultEdge, then the YAML file
// named by -config (or TRIBUTARY_CONFIG), then the TRIBUTARY_*
// environment variables in environ (os.Environ form, "NAME=value"), then
// the flags in args (the command line without the program name), each
// overriding the previous; then it validates the result.
//
// A flag given with an empty value (-nats-url=) overrides the file and the
// environment like any other. When args ask for help (-h, -help), LoadEdge
// writes the usage text to usageOut (os.Stderr if nil) and returns
// flag.ErrHelp. A malformed flag is reported to usageOut with the usage
// text, as package flag does, and returned.
//
// Otherwise every problem is returned at once, joined: environment
// variables with the TRIBUTARY_ prefix that name no setting, values that
// do not parse (named by variable, or by file, line and key), unknown or
// repeated keys in the file, and, when everything parsed, the findings of
// Validate, each saying where the offending value came from.
func LoadEdge(name string, args, environ []string, usageOut io.Writer) (Edge, error) {
	e := DefaultEdge()
	fs := e.fields()
	if err := fs.load(name, args, environ, usageOut); err != nil {
		return Edge{}, err
	}
	secretsFromEnv(environ, &e.NATSSecurity, &e.EtcdSecurity, &e.AdminToken)
	if err := e.Validate(); err != nil {
		return Edge{}, fs.annotate(err)
	}
	if err := readSecretFiles(&e.NATSSecurity, &e.EtcdSecurity, e.AdminTokenFile, &e.AdminToken); err != nil {
		return Edge{}, fs.annotate(err)
	}
	return e, nil
}

// EdgeUsage returns a Markdown table of the edge's settings: flag,
// environment variable, YAML key, default and meaning.
func EdgeUsage() string {
	e := DefaultEdge()
	return e.fields().markdown()
}

// NATSURLs returns the URLs in NATSURL: split on commas, spaces trimmed,
// empty entries dropped. It returns nil when the edge runs an embedded
// NATS server.
func (e Edge) NATSURLs() []string {
	return splitList(e.NATSURL)
}

// EtcdEndpointList returns the endpoints in EtcdEndpoints: split on commas,
// spaces trimmed, empty entries dropped. It returns nil when the edge runs
// an embedded etcd server.
func (e Edge) EtcdEndpointList() []string {
	return splitList(e.EtcdEndpoints)
}

// Validate checks the configuration and returns every problem it finds,
// joined; each names the setting by its flag ("config: -rtmp-addr: ...").
func (e Edge) Validate() error {
	var p problems
	p.add("id", checkToken(e.ID, maxIDLen, idExtra))

	if e.RTMPAddr != "" {
		p.add("rtmp-addr", checkAddr(e.RTMPAddr))
	}
	if e.RTMPSAddr != "" {
		p.add("rtmps-addr", checkAddr(e.RTMPSAddr))
		if e.TLSCert == "" {
			p.addf("tls-cert", "required when -rtmps-addr is set")
		}
		if e.TLSKey == "" {
			p.addf("tls-key", "required when -rtmps-addr is set")
		}
	}
	if e.RTMPAddr == "" && e.RTMPSAddr == "" {
		p.addf("rtmp-addr", "empty, which disables plain RTMP, but -rtmps-addr is empty too: nothing to listen on")
	}
	if e.HTTPAddr == "" {
		p.addf("http-addr", "required: it serves /healthz and /readyz")
	} else {
		p.add("http-addr", checkAddr(e.HTTPAddr))
	}

	p.checkNATSSettings(e.NATSURL, e.EmbeddedNATSAddr)
	p.checkNATSSecurity(e.NATSURL, e.NATSSecurity)
	p.add("bus-prefix", checkToken(e.BusPrefix, 0, busPrefixExtra))
	p.checkEtcdSettings(e.EtcdEndpoints, e.EmbeddedEtcdAddr)
	p.checkEtcdSecurity(e.EtcdEndpoints, e.EtcdSecurity)
	p.checkAdminToken(e.AdminTokenFile, e.AdminToken)
	if e.ControllerAddr != "" {
		p.add("controller-addr", checkAddr(e.ControllerAddr))
	}
	if e.LeaseTTL < 2*time.Second {
		p.addf("lease-ttl", "%s: must be at least 2s", e.LeaseTTL)
	}
	switch e.PublishPolicy {
	case "reject", "takeover":
	default:
		p.addf("publish-policy", "%q: must be reject or takeover", e.PublishPolicy)
	}

	if e.ReconnectGrace <= 0 {
		p.addf("reconnect-grace", "%s: must be greater than 0", e.ReconnectGrace)
	}
	if e.GOPCache < minQueueBytes {
		p.addf("gop-cache", "%s: must be at least %s", e.GOPCache, minQueueBytes)
	}
	if e.PlayerQueue < minQueueBytes {
		p.addf("player-queue", "%s: must be at least %s", e.PlayerQueue, minQueueBytes)
	}
	if e.PlayerMaxLag <= 0 {
		p.addf("player-max-lag", "%s: must be greater than 0", e.PlayerMaxLag)
	}
	if e.AudioHold < 0 || e.AudioHold > time.Second {
		p.addf("audio-hold", "%s: must be between 0 and 1s", e.AudioHold)
	}
	if e.MaxConns < 0 {
		p.addf("max-conns", "%d: must be 0 (unlimited) or more", e.MaxConns)
	}
	p.checkLimits(e)
	p.checkAuthWebhooks(e)
	if e.DrainTimeout < 0 {
		p.addf("drain-timeout", "%s: must be 0 or more", e.DrainTimeout)
	}
	p.add("log-level", checkLogLevel(e.LogLevel))
	p.add("log-format", checkLogFormat(e.LogFormat))

	// Two listeners on the same address cannot both start.
	type listener struct{ flag, addr string }
	listeners := []listener{
		{"rtmp-addr", e.RTMPAddr}, {"rtmps-addr", e.RTMPSAddr}, {"http-addr", e.HTTPAddr},
	}
	if e.NATSURL == "" {
		listeners = append(listeners, listener{"embedded-nats-addr", e.EmbeddedNATSAddr})
	}
	if e.EtcdEndpoints == "" {
		// The in-process controller runs only with the embedded etcd.
		listeners = append(listeners, listener{"embedded-etcd-addr", e.EmbeddedEtcdAddr},
			listener{"controller-addr", e.ControllerAddr})
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
