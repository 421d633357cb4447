package config

import (
	"strings"
	"testing"
	"time"
)

// TestLoadEdgeLimits: the limits and timeouts come from the file, the
// environment and flags like every setting.
func TestLoadEdgeLimits(t *testing.T) {
	path := writeFile(t, "edge.yaml", `
max_conns_per_ip: 20
max_publishers: 50
max_players_per_stream: 500
max_publish_bitrate: 12Mbps
handshake_timeout: 3s
`)
	env := []string{
		"TRIBUTARY_CONFIG=" + path,
		"TRIBUTARY_MAX_PUBLISHERS=60",
		"TRIBUTARY_CONNECT_TIMEOUT=4s",
	}
	args := []string{"-max-publish-bitrate", "6000k", "-idle-timeout=0"}
	got, err := LoadEdge("edge", args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxConnsPerIP != 20 || got.MaxPublishers != 60 || got.MaxPlayersPerStream != 500 ||
		got.MaxPublishBitrate != 6*Mbps || got.HandshakeTimeout != 3*time.Second ||
		got.ConnectTimeout != 4*time.Second || got.IdleTimeout != 0 {
		t.Fatalf("LoadEdge = %+v", got)
	}
	// A plain YAML integer is a bit rate in bit/s.
	path = writeFile(t, "edge.yaml", "max_publish_bitrate: 2500000\n")
	if got, err := LoadEdge("edge", []string{"-config", path}, nil, nil); err != nil || got.MaxPublishBitrate != 2500*Kbps {
		t.Fatalf("max_publish_bitrate: 2500000 gives %v, %v", got.MaxPublishBitrate, err)
	}
}

// TestValidateLimits: every bad limit or timeout is reported, naming its
// flag.
func TestValidateLimits(t *testing.T) {
	e := DefaultEdge()
	e.MaxConns = 10
	e.MaxConnsPerIP = 11
	e.MaxPublishers = -1
	e.MaxPlayersPerStream = -2
	e.MaxPublishBitrate = 6000
	e.HandshakeTimeout = 0
	e.ConnectTimeout = -time.Second
	e.IdleTimeout = -time.Second
	err := e.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"-max-conns-per-ip: 11: more than -max-conns (10)",
		"-max-publishers: -1: must be 0 (unlimited) or more",
		"-max-players-per-stream: -2: must be 0 (unlimited) or more",
		"-max-publish-bitrate: 6kbps: below 64kbps; a rate in kbit/s needs the unit (6000k)",
		"-handshake-timeout: 0s: must be greater than 0",
		"-connect-timeout: -1s: must be greater than 0",
		"-idle-timeout: -1s: must be 0 (never) or more",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := LoadEdge("edge", []string{"-max-publish-bitrate", "5MB"}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "max-publish-bitrate") || !strings.Contains(err.Error(), "unknown unit") {
		t.Fatalf("-max-publish-bitrate 5MB: %v", err)
	}
}
