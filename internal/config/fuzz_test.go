package config

import (
	"strings"
	"testing"
)

// FuzzParseBytes checks that whatever ParseBytes accepts is a non-negative
// size whose String form parses back to the same size, and that every
// rejection carries the package prefix.
func FuzzParseBytes(f *testing.F) {
	for _, tc := range bytesCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("ParseBytes(%q) error %q lacks the package prefix", s, err)
			}
			return
		}
		if b < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, b)
		}
		str := b.String()
		back, err := ParseBytes(str)
		if err != nil || back != b {
			t.Fatalf("ParseBytes(%q) = %d; ParseBytes(%q) = %d, %v", s, b, str, back, err)
		}
		if back.String() != str {
			t.Fatalf("String is not stable: %q then %q", str, back.String())
		}
	})
}
