package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bitrate is a bit rate in bits per second. In flags, environment variables
// and YAML it is written as a non-negative number, with an optional
// fraction, and an optional decimal unit: k or K (1000), M (10^6), G
// (10^9), each optionally followed by "bps" or "bit/s", or "bps" alone.
// "100Mbps", "6000k", "2.5M", "8Mbit/s" and "1500000" are all valid; so is
// a plain YAML integer. The value must be a whole number of bits per
// second.
type Bitrate int64

// Decimal bit rate units.
const (
	Kbps Bitrate = 1000
	Mbps Bitrate = 1000 * Kbps
	Gbps Bitrate = 1000 * Mbps
)

// bitrateUnits are the unit prefixes, from the largest down (the order
// String tries them in).
var bitrateUnits = []struct {
	prefix string
	size   int64
}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}}

var (
	errBitrateEmpty  = errors.New("empty bit rate")
	errBitrateSyntax = errors.New("want a number of bits per second with an optional unit (k, M, G, optionally followed by bps or bit/s), such as 8Mbps or 6000k")
	errBitrateRange  = errors.New("bit rate does not fit in 63 bits")
	errBitrateWhole  = errors.New("not a whole number of bits per second")
)

// ParseBitrate parses a bit rate such as "100Mbps", "6000k" or "2.5M".
func ParseBitrate(s string) (Bitrate, error) {
	b, err := parseBitrate(s)
	if err != nil {
		return 0, fmt.Errorf("config: %w", err)
	}
	return b, nil
}

// bitrateQuantity is how a bit rate is written.
var bitrateQuantity = quantity{
	unit:     bitrateUnit,
	empty:    errBitrateEmpty,
	syntax:   errBitrateSyntax,
	tooLarge: errBitrateRange,
	inexact:  errBitrateWhole,
}

// parseBitrate is ParseBitrate without the package prefix on errors.
func parseBitrate(s string) (Bitrate, error) {
	v, err := bitrateQuantity.parse(s)
	return Bitrate(v), err
}

// bitrateUnit returns the size of a unit as parseBitrate accepts it.
func bitrateUnit(u string) (int64, bool) {
	for _, suffix := range []string{"bps", "bit/s"} {
		if base, ok := strings.CutSuffix(u, suffix); ok {
			u = base
			if u == "" {
				return 1, true
			}
			break
		}
	}
	switch u {
	case "":
		return 1, true
	case "K":
		return 1e3, true
	}
	for _, p := range bitrateUnits {
		if p.prefix == u {
			return p.size, true
		}
	}
	return 0, false
}

// String formats b with the largest unit that divides it exactly: 100Mbps,
// 2500kbps, 1500bps, 0.
func (b Bitrate) String() string {
	n := int64(b)
	if n == 0 {
		return "0"
	}
	if n > 0 {
		for _, p := range bitrateUnits {
			if n%p.size == 0 {
				return strconv.FormatInt(n/p.size, 10) + p.prefix + "bps"
			}
		}
	}
	return strconv.FormatInt(n, 10) + "bps"
}

// Set parses s as ParseBitrate does and stores the result, so *Bitrate can
// be used with flag.Var.
func (b *Bitrate) Set(s string) error {
	v, err := ParseBitrate(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText formats b as String does.
func (b Bitrate) MarshalText() ([]byte, error) {
	return []byte(b.String()), nil
}

// UnmarshalText parses text as ParseBitrate does.
func (b *Bitrate) UnmarshalText(text []byte) error {
	return b.Set(string(text))
}

// yamlBitrate decodes a bit rate from a YAML node.
func yamlBitrate(n *yaml.Node) (Bitrate, error) {
	if err := wantScalar(n, "a bit rate"); err != nil {
		return 0, err
	}
	return parseBitrate(n.Value)
}

var bitrateKind = kind[Bitrate]{
	name:  "rate",
	parse: parseBitrate,
	yaml:  yamlBitrate,
	usage: func(v Bitrate) string {
		if v == 0 {
			return ""
		}
		return v.String()
	},
	md: func(v Bitrate) string { return code(v.String()) },
}

// bitrate binds a Bitrate setting written as "100Mbps", "6000k".
func (fs *fieldSet) bitrate(p *Bitrate, flag, key, help string) *setting {
	return bind(fs, p, bitrateKind, flag, key, help)
}
