package config

import (
	"math"
	"strings"
	"testing"
)

// bitrateCases drive TestParseBitrate and seed FuzzParseBitrate; str,
// when set, is what String prints for the value.
var bitrateCases = []struct {
	in   string
	want Bitrate
	str  string
	err  string // substring of the error; "" for a valid input
}{
	{in: "0", want: 0, str: "0"},
	{in: "1500000", want: 1_500_000, str: "1500kbps"},
	{in: "100Mbps", want: 100_000_000, str: "100Mbps"},
	{in: "100M", want: 100_000_000},
	{in: "8Mbit/s", want: 8_000_000},
	{in: "6000k", want: 6_000_000, str: "6Mbps"},
	{in: "6000K", want: 6_000_000},
	{in: "6000kbps", want: 6_000_000},
	{in: "2.5M", want: 2_500_000, str: "2500kbps"},
	{in: "2.5 Mbps", want: 2_500_000},
	{in: "1.5G", want: 1_500_000_000, str: "1500Mbps"},
	{in: "0.001M", want: 1000, str: "1kbps"},
	{in: "1234bps", want: 1234, str: "1234bps"},
	{in: "1234bit/s", want: 1234},
	{in: "1.0", want: 1},
	{in: " 3G ", want: 3_000_000_000, str: "3Gbps"},
	{in: "9223372036854775807", want: math.MaxInt64},
	{in: "", err: "empty"},
	{in: "Mbps", err: "want a number"},
	{in: "-1M", err: "want a number"},
	{in: "1.5", err: "whole number"},
	{in: "1.0001k", err: "whole number"},
	{in: "1..5M", err: "want a number"},
	{in: "1.M", err: "want a number"},
	{in: ".5M", err: "want a number"},
	{in: "5m", err: "unknown unit"},
	{in: "5MB", err: "unknown unit"},
	{in: "5 Mbpsx", err: "unknown unit"},
	{in: "9223372036854775808", err: "63 bits"},
	{in: "9223372037G", err: "63 bits"},
}

func TestParseBitrate(t *testing.T) {
	for _, tc := range bitrateCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBitrate(tc.in)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "config: ") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseBitrate(%q) = %d, %v; want an error \"config: ...%s...\"", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseBitrate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Fatalf("Bitrate(%d).String() = %q, want %q", got, got.String(), tc.str)
			}
			if back, err := ParseBitrate(got.String()); err != nil || back != got {
				t.Fatalf("ParseBitrate(%q) = %d, %v; want %d back", got.String(), back, err, got)
			}
		})
	}
}

// FuzzParseBitrate checks that whatever ParseBitrate accepts is
// non-negative and survives a round trip through String.
func FuzzParseBitrate(f *testing.F) {
	for _, tc := range bitrateCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBitrate(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseBitrate(%q) = %d, negative", s, b)
		}
		if back, err := ParseBitrate(b.String()); err != nil || back != b {
			t.Fatalf("ParseBitrate(%q) = %d; ParseBitrate(%q) = %d, %v", s, b, b.String(), back, err)
		}
	})
}
