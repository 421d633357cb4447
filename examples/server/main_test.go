package main

import "testing"

func TestByteSizeFlag(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true},
		{"64KiB", 64 << 10, true},
		{"16MiB", 16 << 20, true},
		{"1GiB", 1 << 30, true},
		{"2M", 2 << 20, true},
		{"3 KB", 3 << 10, true},
		{"-1", 0, false},
		{"1.5MiB", 0, false},
		{"MiB", 0, false},
	}
	for _, tc := range tests {
		var b byteSize
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(b) != tc.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", tc.in, b, err, tc.want, tc.ok)
		}
	}
	b := byteSize(16 << 20)
	if s := b.String(); s != "16MiB" {
		t.Errorf("String() = %q, want 16MiB", s)
	}
}
