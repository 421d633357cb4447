package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tributary-media/tributary/internal/config"
)

// keyEntry is one stream key: the SHA-256 of the key, so that comparisons
// take the same time whatever the lengths, and the stream it is bound to.
type keyEntry struct {
	sum    [sha256.Size]byte
	stream string
}

// keySet is the static stream keys of a rule: those of the configuration
// and those of its keys file.
type keySet struct {
	static []keyEntry
	file   *fileSource[[]keyEntry]
}

func newKeySet(keys []config.AuthKey, path string, log *slog.Logger) (*keySet, error) {
	ks := &keySet{}
	for i, k := range keys {
		if why := config.CheckStreamKey(k.Key); why != "" {
			return nil, fmt.Errorf("keys[%d]: the key %s", i, why)
		}
		ks.static = append(ks.static, keyEntry{sum: sha256.Sum256([]byte(k.Key)), stream: k.Stream})
	}
	if path != "" {
		f, err := newFileSource(path, "keys file", parseKeys, log)
		if err != nil {
			return nil, err
		}
		ks.file = f
	}
	return ks, nil
}

// parseKeys parses a keys file: one key per line, optionally followed by
// white space and the stream it is bound to; empty lines and lines
// starting with '#' are ignored. Problems name lines, never keys.
func parseKeys(data []byte) ([]keyEntry, error) {
	ls, nums := lines(data)
	out := make([]keyEntry, 0, len(ls))
	seen := make(map[[sha256.Size]byte]int, len(ls))
	for i, l := range ls {
		key, stream := l, ""
		if j := strings.IndexAny(l, " \t"); j >= 0 {
			key, stream = l[:j], strings.TrimSpace(l[j+1:])
		}
		if why := config.CheckStreamKey(key); why != "" {
			return nil, fmt.Errorf("line %d: the key %s", nums[i], why)
		}
		if why := checkName(stream); stream != "" && why != "" {
			return nil, fmt.Errorf("line %d: the stream name %s", nums[i], why)
		}
		e := keyEntry{sum: sha256.Sum256([]byte(key)), stream: stream}
		if first, dup := seen[e.sum]; dup {
			return nil, fmt.Errorf("line %d: repeats the key of line %d", nums[i], first)
		}
		seen[e.sum] = nums[i]
		out = append(out, e)
	}
	return out, nil
}

// checkName returns why n cannot be a stream name, or "".
func checkName(n string) string {
	switch {
	case len(n) > 512:
		return "is longer than 512 bytes"
	case strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	case strings.Contains(n, "?"):
		return "contains '?'"
	}
	return ""
}

// match returns the entry of key. Every entry is compared, in constant
// time, whether one matched already or not.
func (ks *keySet) match(key string) (keyEntry, bool) {
	sum := sha256.Sum256([]byte(key))
	var found keyEntry
	ok := 0
	look := func(entries []keyEntry) {
		for _, e := range entries {
			m := subtle.ConstantTimeCompare(e.sum[:], sum[:])
			if m == 1 && ok == 0 {
				found = e
			}
			ok |= m
		}
	}
	look(ks.static)
	if ks.file != nil {
		look(ks.file.get())
	}
	return found, ok == 1
}

// check applies the keys to req. The key is the key query parameter, or
// else the stream name. A key bound to a stream allows only that stream:
// given in the parameter, the stream name must be the bound one; given as
// the stream name, the bound stream is published or played instead, so
// that the key never becomes a stream name. An unbound key is accepted
// only in the parameter, for the same reason.
func (ks *keySet) check(req Request) outcome {
	key, fromName := req.Query.Get(KeyParam), false
	if key == "" {
		key, fromName = req.Stream, true
	}
	e, ok := ks.match(key)
	switch {
	case !ok:
		return outcome{result: Denied, reason: "stream key not accepted"}
	case e.stream == "" && fromName:
		return outcome{result: Denied, reason: "this stream key is not bound to a stream: give it in the key parameter (name?key=...)"}
	case e.stream == "":
		return outcome{result: Allowed}
	case fromName:
		return outcome{result: Allowed, name: e.stream}
	case req.Stream != e.stream:
		return outcome{result: Denied, reason: "stream key not valid for this stream"}
	}
	return outcome{result: Allowed}
}
