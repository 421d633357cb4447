package bus

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the subject prefix used when a configuration leaves it
// empty.
const DefaultPrefix = "tributary"

// Subject kinds: the last token of a stream subject.
const (
	// KindMedia is the subject a stream's frames and its end-of-stream
	// message are published on.
	KindMedia = "media"
	// KindInit is the request/reply subject that answers fast-start
	// requests with the stream's metadata, sequence headers and current
	// GOP.
	KindInit = "init"
)

// MaxSubjectLength is the longest stream subject, in bytes, that publishers
// and subscribers accept. NATS servers cap a protocol line at 4 KiB by
// default (max_control_line) and close a connection that exceeds it; this
// limit leaves room for a reply subject and the sizes on the same line.
const MaxSubjectLength = 2048

// escapeChar starts an escape sequence in a token.
const escapeChar = '~'

const upperHex = "0123456789ABCDEF"

// safeByte reports whether EscapeToken keeps b as it is: ASCII letters,
// digits, '-' and '_'.
func safeByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// EscapeToken encodes an arbitrary string (an RTMP application or stream
// name, any bytes) as exactly one NATS subject token. ASCII letters, digits,
// '-' and '_' are kept; every other byte, '~' included, becomes '~' followed
// by two upper-case hexadecimal digits (UTF-8 names are escaped byte by
// byte). The empty string becomes "~" alone. So "live" stays "live",
// "my stream.v2" becomes "my~20stream~2Ev2" and "café" becomes "caf~C3~A9".
//
// The result never contains '.', '*', '>', white space or control
// characters, so it is one token that never acts as a wildcard, and
// different strings always give different tokens (UnescapeToken inverts
// it).
func EscapeToken(s string) string {
	if s == "" {
		return string(escapeChar)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(escapeChar)
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// UnescapeToken decodes a token made by EscapeToken. It accepts only the
// canonical form EscapeToken produces (upper-case hex digits, no escaped
// letters or digits, "~" alone only for the empty string), so every string
// has exactly one token and UnescapeToken(EscapeToken(s)) == s.
func UnescapeToken(tok string) (string, error) {
	if tok == string(escapeChar) {
		return "", nil
	}
	if tok == "" {
		return "", fmt.Errorf("bus: empty token")
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if safeByte(c) {
			continue
		}
		if c != escapeChar {
			return "", fmt.Errorf("bus: token %q: byte %#02x at %d is not allowed", tok, c, i)
		}
		n++
	}
	if n == 0 {
		return tok, nil
	}
	out := make([]byte, 0, max(len(tok)-2*n, 0))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != escapeChar {
			out = append(out, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("bus: token %q: truncated escape at %d", tok, i)
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bus: token %q: bad escape %q at %d", tok, tok[i:i+3], i)
		}
		v := hi<<4 | lo
		if safeByte(v) {
			return "", fmt.Errorf("bus: token %q: escape %q of a byte that is kept as it is", tok, tok[i:i+3])
		}
		out = append(out, v)
		i += 2
	}
	return string(out), nil
}

// prefixOrDefault returns prefix, or DefaultPrefix when it is empty.
func prefixOrDefault(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	return prefix
}

// checkPrefix reports whether prefix (after defaulting) is a literal NATS
// subject: one or more non-empty tokens without wildcards or white space.
func checkPrefix(prefix string) error {
	prefix = prefixOrDefault(prefix)
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return fmt.Errorf("bus: prefix %q is not a literal subject", prefix)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == 0x7f {
				return fmt.Errorf("bus: prefix %q contains white space or control bytes", prefix)
			}
		}
	}
	return nil
}

// StreamSubject returns the subject of one stream's kind (KindMedia,
// KindInit): "<prefix>.stream.<app>.<name>.<kind>" with app and name escaped
// by EscapeToken. An empty prefix means DefaultPrefix. The prefix and kind
// are used as given; constructors of this package check them.
func StreamSubject(prefix, app, name, kind string) string {
	return prefixOrDefault(prefix) + ".stream." + EscapeToken(app) + "." + EscapeToken(name) + "." + kind
}

// AppWildcard returns the subject that matches one kind of every stream of
// an application: "<prefix>.stream.<app>.*.<kind>". Subscribing to it with
// KindMedia receives the frames of all the application's streams; the
// stream of each message is recovered with ParseStreamSubject.
func AppWildcard(prefix, app, kind string) string {
	return prefixOrDefault(prefix) + ".stream." + EscapeToken(app) + ".*." + kind
}

// ParseStreamSubject splits a stream subject made by StreamSubject (with the
// same prefix; empty means DefaultPrefix) into the unescaped application and
// stream names and the kind.
func ParseStreamSubject(prefix, subject string) (app, name, kind string, err error) {
	head := prefixOrDefault(prefix) + ".stream."
	rest, ok := strings.CutPrefix(subject, head)
	if !ok {
		return "", "", "", fmt.Errorf("bus: subject %q does not start with %q", subject, head)
	}
	toks := strings.Split(rest, ".")
	if len(toks) != 3 || toks[2] == "" {
		return "", "", "", fmt.Errorf("bus: subject %q: want <app>.<name>.<kind> after %q", subject, head)
	}
	if app, err = UnescapeToken(toks[0]); err != nil {
		return "", "", "", err
	}
	if name, err = UnescapeToken(toks[1]); err != nil {
		return "", "", "", err
	}
	return app, name, toks[2], nil
}

// EventSubject returns the subject of one type of cluster event,
// "<prefix>.events.<type>", with the type escaped by EscapeToken (event
// types such as "started" are plain tokens and stay as they are).
func EventSubject(prefix, typ string) string {
	return prefixOrDefault(prefix) + ".events." + EscapeToken(typ)
}

// streamSubjects returns the media and init subjects of a stream after
// checking the prefix and the subject length.
func streamSubjects(prefix, app, name string) (media, initSubj string, err error) {
	if err := checkPrefix(prefix); err != nil {
		return "", "", err
	}
	media = StreamSubject(prefix, app, name, KindMedia)
	initSubj = StreamSubject(prefix, app, name, KindInit)
	if len(media) > MaxSubjectLength || len(initSubj) > MaxSubjectLength {
		return "", "", fmt.Errorf("bus: subject of stream %q/%q is %d bytes, longer than %d", app, name, len(initSubj), MaxSubjectLength)
	}
	return media, initSubj, nil
}
