package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		logged        []string // messages expected among debug, info, warn, error
	}{
		{"debug", "text", []string{"d", "i", "w", "e"}},
		{"info", "json", []string{"i", "w", "e"}},
		{"WARN", "Text", []string{"w", "e"}},
		{"error", "JSON", []string{"e"}},
	} {
		var out bytes.Buffer
		log, err := NewLogger(&out, tc.level, tc.format)
		if err != nil {
			t.Fatalf("NewLogger(%q, %q): %v", tc.level, tc.format, err)
		}
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(tc.logged) {
			t.Fatalf("%s/%s logged %d lines, want %d:\n%s", tc.level, tc.format, len(lines), len(tc.logged), out.String())
		}
		for i, line := range lines {
			if strings.EqualFold(tc.format, "json") {
				var rec struct{ Msg string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Msg != tc.logged[i] {
					t.Fatalf("line %q: msg %q, %v; want %q", line, rec.Msg, err, tc.logged[i])
				}
			} else if !strings.Contains(line, "msg="+tc.logged[i]) {
				t.Fatalf("line %q lacks msg=%s", line, tc.logged[i])
			}
		}
	}
}

func TestNewLoggerErrors(t *testing.T) {
	for _, tc := range []struct{ level, format, want string }{
		{"trace", "text", `config: log level "trace": want debug, info, warn or error`},
		{"info", "logfmt", `config: log format "logfmt": want text or json`},
		{"", "", `config: log level "": want debug, info, warn or error`},
	} {
		log, err := NewLogger(&bytes.Buffer{}, tc.level, tc.format)
		if err == nil || err.Error() != tc.want || log != nil {
			t.Errorf("NewLogger(%q, %q) = %v, %v; want error %q", tc.level, tc.format, log, err, tc.want)
		}
	}
}
