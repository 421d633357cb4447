// Package tlsreload serves a TLS certificate from a PEM certificate file
// and key file, and reloads them when they change, so that a renewed
// certificate (cert-manager, certbot, a Kubernetes secret update) is used
// without a restart.
//
// A Reloader checks the files' modification times and sizes every
// Interval. When they have changed it loads the pair; new handshakes then
// get the new certificate, established connections keep theirs. A pair
// that does not load (a key that does not match the certificate, a
// truncated file, a file missing) leaves the previous certificate in
// service; the error is logged once, when the files have stayed the same
// for one interval, so that a certificate and a key replaced one after the
// other are not reported as broken in between.
//
// GetCertificate and Certificate are safe for concurrent use; Run is
// called once.
package tlsreload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a Reloader checks its files by default.
const DefaultInterval = 5 * time.Second

// Config configures a Reloader.
type Config struct {
	// CertFile is the PEM certificate file: the leaf first, then the
	// intermediates.
	CertFile string
	// KeyFile is the PEM private key file.
	KeyFile string
	// Interval is how often the files are checked; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Logger receives a line for each reload and each pair that does not
	// load; nil discards them.
	Logger *slog.Logger
}

// Reloader holds the certificate loaded from a file pair. Create one with
// New and run Run for it to follow the files.
type Reloader struct {
	cfg  Config
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	// loaded is the state of the files when the certificate in service
	// was loaded; seen the state at the previous check; reported the
	// state whose load error was logged. They belong to Run.
	loaded, seen, reported filesState
}

// fileState is what a check compares of one file.
type fileState struct {
	modTime int64 // UnixNano
	size    int64
	missing bool
}

// filesState is the state of the certificate file and the key file.
type filesState struct{ cert, key fileState }

// New loads the certificate and key files of cfg and returns a Reloader
// serving them; it fails when they do not load.
func New(cfg Config) (*Reloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tlsreload: a certificate file and a key file are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	r := &Reloader{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	st := r.stat()
	cert, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.loaded, r.seen = st, st
	return r, nil
}

// load loads the pair.
func (r *Reloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: %s, %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	return &cert, nil
}

// stat returns the state of the files now.
func (r *Reloader) stat() filesState {
	one := func(name string) fileState {
		fi, err := os.Stat(name)
		if err != nil {
			return fileState{missing: true}
		}
		return fileState{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
	}
	return filesState{cert: one(r.cfg.CertFile), key: one(r.cfg.KeyFile)}
}

// Certificate returns the certificate in service.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// GetCertificate returns the certificate in service; it is the
// tls.Config.GetCertificate of a server.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// TLSConfig returns a server configuration that serves the certificate in
// service, with TLS 1.2 as the lowest version.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
}

// Run checks the files every Interval until ctx ends, reloading them when
// they change. It returns nil when ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.check()
		}
	}
}

// check reloads the files if they changed since the certificate in
// service was loaded.
func (r *Reloader) check() {
	st := r.stat()
	prev := r.seen
	r.seen = st
	if st == r.loaded {
		return
	}
	cert, err := r.load()
	if err != nil {
		// Report a pair that stays broken, once; one still being
		// replaced gets another chance at the next check.
		if st == prev && st != r.reported {
			r.reported = st
			r.log.Error("tlsreload: the changed certificate files do not load; the previous certificate stays in service",
				"cert_file", r.cfg.CertFile, "key_file", r.cfg.KeyFile, "err", err)
		}
		return
	}
	r.cert.Store(cert)
	r.loaded, r.reported = st, filesState{}
	attrs := []any{"cert_file", r.cfg.CertFile}
	if leaf := cert.Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
			"serial", leaf.SerialNumber.String())
	}
	r.log.Info("tlsreload: certificate reloaded", attrs...)
}
