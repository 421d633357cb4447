package bus_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// tokenCases drive EscapeToken, UnescapeToken and the FuzzToken seeds.
var tokenCases = []struct {
	name  string
	in    string
	token string
}{
	{"plain", "live", "live"},
	{"safe punctuation", "cam-1_hd", "cam-1_hd"},
	{"empty", "", "~"},
	{"dot", "a.b", "a~2Eb"},
	{"dots only", "..", "~2E~2E"},
	{"space", "my stream", "my~20stream"},
	{"star", "*", "~2A"},
	{"greater", ">", "~3E"},
	{"star inside", "a*b", "a~2Ab"},
	{"tilde", "~", "~7E"},
	{"escape lookalike", "A~2E", "A~7E2E"},
	{"latin-1 in UTF-8", "café", "caf~C3~A9"},
	{"CJK", "日本", "~E6~97~A5~E6~9C~AC"},
	{"emoji", "🎥", "~F0~9F~8E~A5"},
	{"NUL", "\x00", "~00"},
	{"invalid UTF-8", "\xff\xfe", "~FF~FE"},
	{"query string", "s?k=1&x=/y", "s~3Fk~3D1~26x~3D~2Fy"},
	{"tab CR LF", "\t\r\n", "~09~0D~0A"},
	{"dollar", "$SYS", "~24SYS"},
}

func TestEscapeToken(t *testing.T) {
	for _, c := range tokenCases {
		t.Run(c.name, func(t *testing.T) {
			if got := bus.EscapeToken(c.in); got != c.token {
				t.Errorf("EscapeToken(%q) = %q, want %q", c.in, got, c.token)
			}
			got, err := bus.UnescapeToken(c.token)
			if err != nil || got != c.in {
				t.Errorf("UnescapeToken(%q) = %q, %v; want %q", c.token, got, err, c.in)
			}
			if !validToken(c.token) {
				t.Errorf("%q is not a literal NATS token", c.token)
			}
		})
	}
}

func TestUnescapeTokenRejectsNonCanonical(t *testing.T) {
	for _, tok := range []string{
		"",        // not a token
		"~2e",     // lower-case hex
		"~41",     // 'A' is kept as it is, never escaped
		"~5F",     // '_' likewise
		"~",       // (valid: the empty string) — checked below
		"~~",      // truncated escape
		"a~2",     // truncated escape
		"~G0",     // not hex
		"a.b",     // '.' is never in a token
		"a b",     // nor a space
		"*",       // nor a wildcard
		">",       // nor a wildcard
		"caf\xc3", // raw non-ASCII byte
	} {
		got, err := bus.UnescapeToken(tok)
		if tok == "~" {
			if err != nil || got != "" {
				t.Errorf("UnescapeToken(%q) = %q, %v; want the empty string", tok, got, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("UnescapeToken(%q) = %q, want an error", tok, got)
		}
	}
}

// validToken reports whether tok is one literal NATS subject token: not
// empty, no '.', no white space, not a wildcard, printable ASCII only.
func validToken(tok string) bool {
	if tok == "" || tok == "*" || tok == ">" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f || c == '.' {
			return false
		}
	}
	return true
}

// randomName returns a random string biased towards the bytes that need
// escaping.
func randomName(r *rand.Rand) string {
	const special = ".*> ~\t\r\n/?&=%$#\x00\xff"
	pieces := []string{"é", "日本", "🎥", "~2E", "~", "live", "a", "Z", "9", "-", "_"}
	n := r.IntN(12)
	var b strings.Builder
	for range n {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(special[r.IntN(len(special))])
		case 1:
			b.WriteString(pieces[r.IntN(len(pieces))])
		case 2:
			b.WriteByte(byte(r.IntN(256)))
		default:
			b.WriteByte("abcXYZ019-_"[r.IntN(11)])
		}
	}
	return b.String()
}

func TestEscapeTokenProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]string) // token -> name
	for range 200000 {
		name := randomName(r)
		tok := bus.EscapeToken(name)
		if !validToken(tok) {
			t.Fatalf("EscapeToken(%q) = %q: not a literal NATS token", name, tok)
		}
		back, err := bus.UnescapeToken(tok)
		if err != nil || back != name {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", name, back, err)
		}
		if prev, ok := seen[tok]; ok && prev != name {
			t.Fatalf("collision: %q and %q both escape to %q", prev, name, tok)
		}
		seen[tok] = name
	}
	if len(seen) < 50000 {
		t.Fatalf("only %d distinct names generated", len(seen))
	}
}

func TestUnescapeTokenIsCanonical(t *testing.T) {
	// Every token UnescapeToken accepts is the one EscapeToken gives for
	// its result, so no two tokens name the same stream.
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "aZ9-_~0123456789ABCDEFabcdef"
	accepted := 0
	for range 200000 {
		n := 1 + r.IntN(9)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		tok := string(b)
		name, err := bus.UnescapeToken(tok)
		if err != nil {
			continue
		}
		accepted++
		if got := bus.EscapeToken(name); got != tok {
			t.Fatalf("UnescapeToken(%q) = %q, which escapes to %q", tok, name, got)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d random tokens accepted", accepted)
	}
}

func TestStreamSubject(t *testing.T) {
	cases := []struct {
		prefix, app, name, kind string
		subject                 string
	}{
		{"", "live", "test", bus.KindMedia, "tributary.stream.live.test.media"},
		{"", "live", "a.b c", bus.KindInit, "tributary.stream.live.a~2Eb~20c.init"},
		{"acme.prod", "li.ve", "*", bus.KindMedia, "acme.prod.stream.li~2Eve.~2A.media"},
		{"tributary", "", "", bus.KindMedia, "tributary.stream.~.~.media"},
	}
	for _, c := range cases {
		got := bus.StreamSubject(c.prefix, c.app, c.name, c.kind)
		if got != c.subject {
			t.Errorf("StreamSubject(%q, %q, %q, %q) = %q, want %q", c.prefix, c.app, c.name, c.kind, got, c.subject)
			continue
		}
		app, name, kind, err := bus.ParseStreamSubject(c.prefix, got)
		if err != nil || app != c.app || name != c.name || kind != c.kind {
			t.Errorf("ParseStreamSubject(%q) = %q, %q, %q, %v", got, app, name, kind, err)
		}
	}
	if got := bus.AppWildcard("", "li.ve", bus.KindMedia); got != "tributary.stream.li~2Eve.*.media" {
		t.Errorf("AppWildcard = %q", got)
	}
	if got := bus.EventSubject("", "taken-over"); got != "tributary.events.taken-over" {
		t.Errorf("EventSubject = %q", got)
	}
	for _, bad := range []string{
		"tributary.stream.live.media",       // one token short
		"tributary.stream.live.a.b.media",   // one token too many
		"other.stream.live.test.media",      // wrong prefix
		"tributary.stream.live.a~2e.media",  // non-canonical escape
		"tributary.stream.live.test.",       // empty kind
		"tributary.streams.live.test.media", // not a stream subject
	} {
		if app, name, kind, err := bus.ParseStreamSubject("", bad); err == nil {
			t.Errorf("ParseStreamSubject(%q) = %q, %q, %q, want an error", bad, app, name, kind)
		}
	}
}

func TestConstructorsCheckNames(t *testing.T) {
	_, nc := startNATS(t)
	for _, prefix := range []string{"a..b", "*", "a.>", "a b", ".a"} {
		if _, err := bus.NewPublisher(nc, bus.PublisherConfig{Prefix: prefix, App: "live", Name: "x", Epoch: 1}); err == nil {
			t.Errorf("NewPublisher with prefix %q: no error", prefix)
		}
		if _, err := bus.NewSubscriber(nc, bus.SubscriberConfig{Prefix: prefix, App: "live", Name: "x", Handler: func(bus.Frame) {}}); err == nil {
			t.Errorf("NewSubscriber with prefix %q: no error", prefix)
		}
	}
	long := strings.Repeat(".", bus.MaxSubjectLength/3)
	if _, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: long, Epoch: 1}); err == nil {
		t.Error("NewPublisher with a name whose subject is too long: no error")
	}
	if _, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "x"}); err == nil {
		t.Error("NewPublisher with epoch 0: no error")
	}
	if _, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "x"}); err == nil {
		t.Error("NewSubscriber without a handler: no error")
	}
}

// TestWildcardsEndToEnd publishes one frame on each of many streams whose
// names hold dots, spaces, wildcards and non-ASCII text, and checks with a
// real server which subscriptions receive which streams.
func TestWildcardsEndToEnd(t *testing.T) {
	_, nc := startNATS(t)
	type stream struct{ app, name string }
	live := []stream{
		{"live", "test"}, {"live", "a.b"}, {"live", "a b"}, {"live", "*"}, {"live", ">"},
		{"live", "a.*.>"}, {"live", "日本 🎥"}, {"live", ""}, {"live", "~2E"}, {"live", "x.media"},
	}
	others := []stream{
		{"live.x", "test"}, {"li*e", "test"}, {"", "test"}, {"Live", "test"}, {"live ", "test"},
	}
	var mu sync.Mutex
	got := make(map[string][]stream) // subscription -> streams received
	arrived := make(chan struct{}, 1)
	subscribe := func(subj string) {
		_, err := nc.Subscribe(subj, func(m *nats.Msg) {
			app, name, kind, err := bus.ParseStreamSubject("", m.Subject)
			if err != nil || kind != bus.KindMedia {
				t.Errorf("message on %q: %q %v", m.Subject, kind, err)
				return
			}
			mu.Lock()
			got[subj] = append(got[subj], stream{app, name})
			mu.Unlock()
			select {
			case arrived <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appLive := bus.AppWildcard("", "live", bus.KindMedia)
	exactStar := bus.StreamSubject("", "live", "*", bus.KindMedia)
	exactEmpty := bus.StreamSubject("", "live", "", bus.KindMedia)
	all := "tributary.stream.*.*.media"
	for _, s := range []string{appLive, exactStar, exactEmpty, all} {
		subscribe(s)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	tag := mustTag(t, flv.TagAudio, 0, aacRawBody)
	for i, s := range append(slices.Clone(live), others...) {
		p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: s.app, Name: s.name, Epoch: uint64(i + 1)})
		if err != nil {
			t.Fatalf("%q/%q: %v", s.app, s.name, err)
		}
		if _, err := p.Publish(tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]stream{
		appLive:    live,
		exactStar:  {{"live", "*"}},
		exactEmpty: {{"live", ""}},
		all:        append(slices.Clone(live), others...),
	}
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for done := false; !done; {
		mu.Lock()
		done = true
		for subj, w := range want {
			if len(got[subj]) < len(w) {
				done = false
			}
		}
		mu.Unlock()
		if !done {
			select {
			case <-arrived:
			case <-timer.C:
				done = true
			}
		}
	}
	// One more round trip, so that any message wrongly matched would have
	// arrived too.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	cmp := func(a, b stream) int { return strings.Compare(a.app+"/"+a.name, b.app+"/"+b.name) }
	for subj, w := range want {
		g := slices.Clone(got[subj])
		w = slices.Clone(w)
		slices.SortFunc(g, cmp)
		slices.SortFunc(w, cmp)
		if !slices.Equal(g, w) {
			t.Errorf("subscription %q received\n %q\nwant\n %q", subj, g, w)
		}
	}
}

// TestSubscriberTrickyName runs a whole publish (fast start, live, end)
// for a stream whose names need escaping.
func TestSubscriberTrickyName(t *testing.T) {
	_, nc := startNATS(t)
	app, name := "li.ve *", "a.b > 日本 ~ "
	p := newPublisher(t, nc, bus.PublisherConfig{Prefix: "acme.prod", App: app, Name: name, Epoch: 9})
	if _, err := p.Publish(mustTag(t, flv.TagVideo, 0, avcSeqBody)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(mustTag(t, flv.TagVideo, 0, keyBody(100, 1))); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	newSubscriber(t, nc, bus.SubscriberConfig{Prefix: "acme.prod", App: app, Name: name}, c)
	if _, err := p.Publish(mustTag(t, flv.TagVideo, 40, interBody(100, 2))); err != nil {
		t.Fatal(err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	fs := c.waitFor(t, "end of stream", hasEnd)
	if len(fs) != 4 || !fs[0].Init || !fs[1].Init || fs[2].Init || fs[2].Seq != 3 || fs[3].Seq != 4 {
		t.Fatalf("frames: %+v", summary(fs))
	}
}

// summary describes frames briefly for failure messages.
func summary(fs []bus.Frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		var b strings.Builder
		b.WriteString("e")
		b.WriteString(itoa(f.Epoch))
		b.WriteString("/s")
		b.WriteString(itoa(f.Seq))
		if f.Init {
			b.WriteString("/init")
		}
		if f.Event != "" {
			b.WriteString("/" + f.Event)
		}
		if f.Lost != 0 {
			b.WriteString("/lost" + itoa(f.Lost))
		}
		out[i] = b.String()
	}
	return out
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
