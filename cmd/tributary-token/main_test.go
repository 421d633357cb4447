package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/token"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestRun(t *testing.T) {
	now := time.Unix(1767225600, 0)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := token.Verifier{Secrets: [][]byte{[]byte(secret)}}
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		prefix string // of the output
		action string
		stream string
		valid  time.Time // a moment the token is valid at
	}{
		{"url", []string{"-secret-file", file, "-action", "publish", "-ttl", "2h", "-url", "rtmp://edge/live/match-42"},
			"", "rtmp://edge/live/match-42?exp=1767232800&sig=", "publish", "match-42", now.Add(2 * time.Hour)},
		{"url-with-query", []string{"-secret-file", file, "-url", "rtmp://edge/live/match-42?key=abc", "-exp", "1767229200"},
			"", "rtmp://edge/live/match-42?key=abc&exp=1767229200&sig=", "publish", "match-42", now.Add(time.Hour)},
		{"stream-key-field", []string{"-secret-file", "-", "-action", "play", "-app", "live", "-stream", "match 42"},
			secret + "\n", "match 42?exp=1767229200&sig=", "play", "match 42", now.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(tc.args, strings.NewReader(tc.stdin), &out, &errOut, now); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			got := strings.TrimSpace(out.String())
			if !strings.HasPrefix(got, tc.prefix) {
				t.Fatalf("output %q, want it to start with %q", got, tc.prefix)
			}
			_, query, _ := strings.Cut(got, "?")
			q, err := url.ParseQuery(query)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(q, tc.action, "live", tc.stream, tc.valid); err != nil {
				t.Fatalf("the edge would refuse %q: %v", got, err)
			}
			if err := v.Verify(q, tc.action, "live", tc.stream, tc.valid.Add(time.Second)); err == nil {
				t.Fatalf("the token of %q is valid after its expiry", got)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-url", "rtmp://e/live/s"}, "-secret-file is required"},
		{[]string{"-secret-file", short, "-url", "rtmp://e/live/s"}, "shorter than 16 bytes"},
		{[]string{"-secret-file", "-", "-action", "record", "-url", "rtmp://e/live/s"}, `-action "record"`},
		{[]string{"-secret-file", "-", "-url", "rtmp://e/a/b/c"}, "give -app and -stream"},
		{[]string{"-secret-file", "-", "-url", "http://e/a/b"}, "want an rtmp:// or rtmps:// URL"},
		{[]string{"-secret-file", "-", "-app", "live"}, "give -url, or -app and -stream"},
		{[]string{"-secret-file", "-", "-app", "live", "-stream", "s", "-ttl", "0s"}, "-ttl 0s"},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, strings.NewReader(secret+"\n"), &out, &errOut, time.Now())
		if code != 2 || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args, code, errOut.String(), out.String(), tc.want)
		}
		if strings.Contains(errOut.String(), secret) {
			t.Errorf("%v: stderr shows the secret", tc.args)
		}
	}
}
