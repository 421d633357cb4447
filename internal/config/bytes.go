package config

import (
	"errors"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Bytes is a size in bytes. In flags, environment variables and YAML it is
// written as a non-negative integer with an optional unit: binary units
// (KiB, MiB, GiB, TiB, PiB, EiB: powers of 1024), decimal units (kB or KB,
// MB, GB, TB, PB, EB: powers of 1000) or B. "16MiB", "512KiB", "1MB",
// "1000" and "1000B" are all valid; so is a plain YAML integer.
//
// *Bytes implements flag.Value, encoding.TextMarshaler,
// encoding.TextUnmarshaler and yaml.Unmarshaler.
type Bytes int64

// Binary byte units.
const (
	KiB Bytes = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// byteUnit is a unit suffix and its size in bytes.
type byteUnit struct {
	suffix string
	size   int64
}

// binaryUnits and decimalUnits are ordered from the largest unit down, the
// order String tries them in.
var (
	binaryUnits = []byteUnit{
		{"EiB", 1 << 60}, {"PiB", 1 << 50}, {"TiB", 1 << 40},
		{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	}
	decimalUnits = []byteUnit{
		{"EB", 1e18}, {"PB", 1e15}, {"TB", 1e12},
		{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3},
	}
)

// unitSize returns the size of a unit suffix as ParseBytes accepts it.
func unitSize(suffix string) (int64, bool) {
	switch suffix {
	case "", "B":
		return 1, true
	case "KB":
		return 1e3, true
	}
	for _, u := range binaryUnits {
		if u.suffix == suffix {
			return u.size, true
		}
	}
	for _, u := range decimalUnits {
		if u.suffix == suffix {
			return u.size, true
		}
	}
	return 0, false
}

var (
	errBytesEmpty    = errors.New("empty size")
	errBytesNegative = errors.New("sizes cannot be negative")
	errBytesNumber   = errors.New("want a whole number of bytes with an optional unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)")
	errBytesRange    = errors.New("size does not fit in 63 bits")
)

// ParseBytes parses a size such as "16MiB", "512KiB", "1MB" or "1000".
// Spaces around the value and between the number and the unit are allowed.
// Negative values, fractions and sizes of 2^63 bytes or more are errors.
func ParseBytes(s string) (Bytes, error) {
	b, err := parseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("config: %w", err)
	}
	return b, nil
}

// bytesQuantity is how a size is written.
var bytesQuantity = quantity{
	unit:     unitSize,
	empty:    errBytesEmpty,
	negative: errBytesNegative,
	syntax:   errBytesNumber,
	tooLarge: errBytesRange,
}

// parseBytes is ParseBytes with errors that name the value but carry no
// package prefix, for embedding in messages that already have one.
func parseBytes(s string) (Bytes, error) {
	v, err := bytesQuantity.parse(s)
	return Bytes(v), err
}

// String formats b with the largest binary unit that divides it exactly,
// else the largest decimal unit that does, else as a plain number:
// 16MiB, 1MB, 1500. ParseBytes(b.String()) gives b back for every b >= 0.
func (b Bytes) String() string {
	n := int64(b)
	if n > 0 {
		for _, units := range [][]byteUnit{binaryUnits, decimalUnits} {
			for _, u := range units {
				if n%u.size == 0 {
					return strconv.FormatInt(n/u.size, 10) + u.suffix
				}
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set parses s as ParseBytes does and stores the result, so *Bytes can be
// used with flag.Var.
func (b *Bytes) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText formats b as String does.
func (b Bytes) MarshalText() ([]byte, error) {
	return []byte(b.String()), nil
}

// UnmarshalText parses text as ParseBytes does.
func (b *Bytes) UnmarshalText(text []byte) error {
	return b.Set(string(text))
}

// UnmarshalYAML accepts a YAML scalar holding a size ("16MiB") or a plain
// integer (16777216).
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	v, err := yamlBytes(n)
	if err != nil {
		return fmt.Errorf("config: line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// yamlBytes decodes a size from a YAML node.
func yamlBytes(n *yaml.Node) (Bytes, error) {
	if err := wantScalar(n, "a size"); err != nil {
		return 0, err
	}
	return parseBytes(n.Value)
}
