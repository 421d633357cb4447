package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultEtcdAddr is the client address of an embedded etcd when
// EtcdOptions.Addr is empty: etcd's usual client port on loopback.
const DefaultEtcdAddr = "127.0.0.1:2379"

// etcdCompactionRetention is how much history an embedded etcd keeps
// (periodic compaction). Watchers that fall further behind must read the
// state again; claims' watches check their key after a compaction.
const etcdCompactionRetention = "10m"

// Etcd is an embedded single-member etcd server.
type Etcd struct {
	e         *embed.Etcd
	endpoints []string
	tempDir   string // removed by Close; "" when the data dir is the caller's
	closed    chan struct{}
	closeErr  error
	closing   chan struct{}
}

// EtcdOptions configures StartEtcd.
type EtcdOptions struct {
	// Addr is the client listen address, "host:port"; empty means
	// DefaultEtcdAddr, port 0 picks a free port.
	Addr string
	// PeerAddr is the peer listen address, "host:port"; empty means a free
	// port on 127.0.0.1. A single member talks to no peer, but etcd
	// listens anyway. Keep it the same across restarts on one data dir.
	PeerAddr string
	// DataDir holds the data; it survives Close and a restart on it finds
	// the same state. Empty means a temporary directory removed by Close.
	DataDir string
	// Logger receives the server's errors; nil discards them. Its
	// informational logging is always silent.
	Logger *slog.Logger
	// Fast selects test timing: a 10 ms heartbeat and a 100 ms election
	// timeout (ready in about 100 ms) and no fsync, which loses data on a
	// machine crash. Production leaves it false: a 100 ms heartbeat, a 1 s
	// election timeout, fsync on.
	Fast bool
	// ReadyTimeout bounds the wait for the server to serve clients; 0
	// means 30 s.
	ReadyTimeout time.Duration
}

// StartEtcd starts a single-member etcd server in this process and returns
// once it serves clients.
func StartEtcd(opts EtcdOptions) (*Etcd, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultEtcdAddr
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client address: %w", err)
	}
	peerAddr := opts.PeerAddr
	if peerAddr == "" {
		peerAddr = "127.0.0.1:0"
	}
	peerHost, peerPort, err := splitAddr(peerAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: peer address: %w", err)
	}
	// Fail with a clear message when the port is taken, before etcd
	// reports it in its own words.
	if port != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("embedded etcd: cannot listen on %s (is another edge running its embedded etcd there? join it with -etcd-endpoints http://%s): %w",
				addr, net.JoinHostPort(connectHost(host), strconv.Itoa(port)), err)
		}
		ln.Close()
	}

	e := &Etcd{closed: make(chan struct{}), closing: make(chan struct{})}
	dir := opts.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tributary-etcd-*"); err != nil {
			return nil, fmt.Errorf("embedded etcd: data dir: %w", err)
		}
		e.tempDir = dir
	}
	fail := func(err error) (*Etcd, error) {
		if e.tempDir != "" {
			os.RemoveAll(e.tempDir)
		}
		return nil, err
	}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := embed.NewConfig()
	cfg.Name = "tributary"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(errorCore{log: log.With("component", "etcd-server"), closing: e.closing}))
	cfg.LogLevel = "error"
	cfg.ListenClientUrls = []url.URL{httpURL(host, port)}
	cfg.AdvertiseClientUrls = []url.URL{httpURL(connectHost(host), port)}
	cfg.ListenPeerUrls = []url.URL{httpURL(peerHost, peerPort)}
	cfg.AdvertisePeerUrls = []url.URL{httpURL(connectHost(peerHost), peerPort)}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.EnableGRPCGateway = false
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = etcdCompactionRetention
	if opts.Fast {
		cfg.TickMs = 10
		cfg.ElectionMs = 100
		cfg.UnsafeNoFsync = true
	}
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return fail(fmt.Errorf("embedded etcd: start on %s: %w", addr, err))
	}
	e.e = srv
	wait := opts.ReadyTimeout
	if wait <= 0 {
		wait = 30 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		srv.Close()
		return fail(fmt.Errorf("embedded etcd: server failed while starting: %w", err))
	case <-timer.C:
		srv.Server.Stop()
		srv.Close()
		return fail(fmt.Errorf("embedded etcd: server not ready within %v", wait))
	}
	for _, l := range srv.Clients {
		e.endpoints = append(e.endpoints, "http://"+hostPort(connectHost(host), l.Addr()))
	}
	return e, nil
}

// splitAddr splits "host:port" and checks the port.
func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// httpURL returns http://host:port.
func httpURL(host string, port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}
}

// hostPort returns host with the port of a listener's address.
func hostPort(host string, a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	return a.String()
}

// Endpoints returns the client URLs, e.g. ["http://127.0.0.1:2379"].
func (e *Etcd) Endpoints() []string { return slices.Clone(e.endpoints) }

// Close stops the server (clients see their connections close) and
// removes the temporary data directory, if it made one. It waits for that
// or for ctx to end; the server goes on stopping in the background then.
// Close may be called more than once.
func (e *Etcd) Close(ctx context.Context) error {
	select {
	case <-e.closing:
	default:
		close(e.closing)
		go func() {
			e.e.Close()
			if e.tempDir != "" {
				if err := os.RemoveAll(e.tempDir); err != nil {
					e.closeErr = fmt.Errorf("embedded etcd: remove data dir: %w", err)
				}
			}
			close(e.closed)
		}()
	}
	select {
	case <-e.closed:
		return e.closeErr
	case <-ctx.Done():
		return fmt.Errorf("embedded etcd: close: %w", ctx.Err())
	}
}

// errorCore is a zap core that passes errors, and nothing less severe, to
// slog.
// Once the server is closing, its complaints about closed listeners
// and servers are part of stopping, not errors: they are dropped.
type errorCore struct {
	log     *slog.Logger
	fields  []zapcore.Field
	closing <-chan struct{}
}

func (c errorCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

func (c errorCore) With(fields []zapcore.Field) zapcore.Core {
	return errorCore{log: c.log, fields: append(slices.Clip(c.fields), fields...), closing: c.closing}
}

func (c errorCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c errorCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	select {
	case <-c.closing:
		return nil
	default:
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.log.Error(ent.Message, attrs...)
	return nil
}

func (c errorCore) Sync() error { return nil }

// DefaultEtcdDir returns the data directory of an embedded etcd server
// serving clients on addr: one per address under the user's cache
// directory, so that a restarted process finds its cluster state and
// stream epochs keep growing. It returns "" (a temporary directory) when
// there is no cache directory.
func DefaultEtcdDir(addr string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	name := strings.Map(func(r rune) rune {
		switch r {
		case ':', '/', '\\', '[', ']':
			return '_'
		}
		return r
	}, addr)
	return filepath.Join(base, "tributary", "etcd-"+name)
}
