package config

import "time"

// minPublishBitrate is the lowest publish bit rate limit: lower ones are
// taken for a value meant in kbit/s ("6000" for 6000k).
const minPublishBitrate = 64 * Kbps

// checkLimits adds the problems of the edge's connection and stream
// limits and timeouts to p.
func (p *problems) checkLimits(e Edge) {
	for _, l := range []struct {
		flag string
		v    int
	}{
		{"max-conns-per-ip", e.MaxConnsPerIP},
		{"max-publishers", e.MaxPublishers},
		{"max-players-per-stream", e.MaxPlayersPerStream},
	} {
		if l.v < 0 {
			p.addf(l.flag, "%d: must be 0 (unlimited) or more", l.v)
		}
	}
	if e.MaxConns > 0 && e.MaxConnsPerIP > e.MaxConns {
		p.addf("max-conns-per-ip", "%d: more than -max-conns (%d)", e.MaxConnsPerIP, e.MaxConns)
	}
	if r := e.MaxPublishBitrate; r != 0 && r < minPublishBitrate {
		p.addf("max-publish-bitrate", "%s: below %s; a rate in kbit/s needs the unit (6000k)", r, minPublishBitrate)
	}
	for _, t := range []struct {
		flag string
		d    time.Duration
	}{
		{"handshake-timeout", e.HandshakeTimeout},
		{"connect-timeout", e.ConnectTimeout},
	} {
		if t.d <= 0 {
			p.addf(t.flag, "%s: must be greater than 0", t.d)
		}
	}
	if e.IdleTimeout < 0 {
		p.addf("idle-timeout", "%s: must be 0 (never) or more", e.IdleTimeout)
	}
}
