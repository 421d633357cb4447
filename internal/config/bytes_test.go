package config

import (
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// bytesCases drives TestParseBytes and seeds FuzzParseBytes. want is the
// value; str, when set, is what String prints for it.
var bytesCases = []struct {
	in   string
	want Bytes
	str  string
	err  string // substring of the error; "" for a valid input
}{
	{in: "0", want: 0, str: "0"},
	{in: "1000", want: 1000, str: "1kB"},
	{in: "1000B", want: 1000},
	{in: "1500", want: 1500, str: "1500"},
	{in: "512KiB", want: 512 << 10, str: "512KiB"},
	{in: "16MiB", want: 16 << 20, str: "16MiB"},
	{in: "1GiB", want: 1 << 30, str: "1GiB"},
	{in: "3TiB", want: 3 << 40, str: "3TiB"},
	{in: "2PiB", want: 2 << 50, str: "2PiB"},
	{in: "7EiB", want: 7 << 60, str: "7EiB"},
	{in: "1MB", want: 1_000_000, str: "1MB"},
	{in: "1kB", want: 1000},
	{in: "1KB", want: 1000},
	{in: "5GB", want: 5_000_000_000, str: "5GB"},
	{in: "1024KiB", want: 1 << 20, str: "1MiB"},
	{in: " 16 MiB ", want: 16 << 20},
	{in: "007KiB", want: 7 << 10},
	{in: "9223372036854775807", want: math.MaxInt64, str: "9223372036854775807"},
	{in: "", err: "empty size"},
	{in: "   ", err: "empty size"},
	{in: "12XB", err: "unknown unit"},
	{in: "16mib", err: "unknown unit"},
	{in: "MiB", err: "whole number"},
	{in: "-1MiB", err: "negative"},
	{in: "-0", err: "negative"},
	{in: "+1", err: "whole number"},
	{in: "1.5MiB", err: "unknown unit"},
	{in: "1_000", err: "unknown unit"},
	{in: "0x10", err: "unknown unit"},
	{in: "9223372036854775808", err: "63 bits"},
	{in: "8EiB", err: "63 bits"},
	{in: "8796093022208TiB", err: "63 bits"},
	{in: "99999999999999999999999KiB", err: "63 bits"},
}

func TestParseBytes(t *testing.T) {
	for _, tc := range bytesCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBytes(tc.in)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("ParseBytes(%q) = %d, want an error containing %q", tc.in, got, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "config: ") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseBytes(%q) error = %q, want \"config: ...%s...\"", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBytes(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseBytes(%q) = %d, want %d", tc.in, got, tc.want)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Fatalf("Bytes(%d).String() = %q, want %q", got, got.String(), tc.str)
			}
			back, err := ParseBytes(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseBytes(%q) = %d, %v; want %d", got.String(), back, err, got)
			}
		})
	}
}

func TestBytesStringRoundTrip(t *testing.T) {
	values := []Bytes{0, 1, 999, 1000, 1023, 1024, 1025, 64 * KiB, 8 * MiB, 1<<62 + 1, math.MaxInt64, math.MaxInt64 - 1}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		// Random values of every magnitude, some multiples of units.
		v := Bytes(rng.Int64N(math.MaxInt64) >> rng.IntN(63))
		if rng.IntN(2) == 0 {
			v = v >> 20 << 20
		}
		values = append(values, v)
	}
	for _, v := range values {
		s := v.String()
		got, err := ParseBytes(s)
		if err != nil || got != v {
			t.Fatalf("ParseBytes(Bytes(%d).String() = %q) = %d, %v", v, s, got, err)
		}
	}
	if got := Bytes(-5).String(); got != "-5" {
		t.Fatalf("Bytes(-5).String() = %q, want -5", got)
	}
}

func TestBytesFlagAndText(t *testing.T) {
	var b Bytes
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&b, "size", "a size")
	if err := fs.Parse([]string{"-size", "4MiB"}); err != nil {
		t.Fatal(err)
	}
	if b != 4*MiB {
		t.Fatalf("after -size 4MiB: %d", b)
	}
	if err := fs.Parse([]string{"-size", "4XiB"}); err == nil {
		t.Fatal("-size 4XiB: no error")
	}
	if b != 4*MiB {
		t.Fatalf("a failed Set changed the value to %d", b)
	}
	text, err := b.MarshalText()
	if err != nil || string(text) != "4MiB" {
		t.Fatalf("MarshalText = %q, %v", text, err)
	}
	var c Bytes
	if err := c.UnmarshalText([]byte("1GB")); err != nil || c != 1e9 {
		t.Fatalf("UnmarshalText(1GB) = %d, %v", c, err)
	}
}

func TestBytesYAML(t *testing.T) {
	type doc struct {
		Size Bytes `yaml:"size"`
	}
	for _, tc := range []struct {
		in   string
		want Bytes
		err  string
	}{
		{in: "size: 16MiB", want: 16 * MiB},
		{in: "size: \"512KiB\"", want: 512 * KiB},
		{in: "size: 1048576", want: MiB},
		{in: "size: 0", want: 0},
		{in: "size: 1.5", err: "unknown unit"},
		{in: "size: -1", err: "negative"},
		{in: "size: [1]", err: "want a size, got a list"},
		{in: "size: {a: 1}", err: "want a size, got a mapping"},
		{in: "\n\nsize: 12XB", err: "line 3"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var d doc
			err := yaml.Unmarshal([]byte(tc.in), &d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || d.Size != tc.want {
				t.Fatalf("got %d, %v; want %d", d.Size, err, tc.want)
			}
		})
	}
	out, err := yaml.Marshal(doc{Size: 8 * MiB})
	if err != nil || string(out) != "size: 8MiB\n" {
		t.Fatalf("yaml.Marshal = %q, %v", out, err)
	}
}
