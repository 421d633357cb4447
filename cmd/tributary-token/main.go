// Command tributary-token signs the expiring tokens a Tributary edge
// accepts for publishes and plays (pkg/token, docs/security.md).
//
// The secret is read from a file (or standard input with -secret-file -),
// never from the command line, where other users could see it:
//
//	tributary-token -secret-file /etc/tributary/token-secret -action publish \
//	    -ttl 2h -url rtmp://edge.example.com/live/match-42
//	rtmp://edge.example.com/live/match-42?exp=1767232800&sig=...
//
// With -app and -stream instead of -url it prints what goes in an
// encoder's stream key field (OBS: Settings, Stream, Stream Key):
//
//	tributary-token -secret-file s -action publish -app live -stream match-42 -ttl 2h
//	match-42?exp=1767232800&sig=...
//
// The token is valid until -exp (Unix seconds) or for -ttl from now.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tributary-media/tributary/pkg/token"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now()))
}

// run is the command: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("tributary-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretFile := fs.String("secret-file", "", `file whose first line is the secret ("-" for standard input)`)
	action := fs.String("action", token.Publish, "what the token allows: publish or play")
	rawURL := fs.String("url", "", "RTMP URL of the stream (rtmp://host/app/stream); prints it with the token")
	app := fs.String("app", "", "application name (instead of -url)")
	stream := fs.String("stream", "", "stream name (instead of -url); prints it with the token")
	ttl := fs.Duration("ttl", time.Hour, "validity from now")
	exp := fs.Int64("exp", 0, "expiry in Unix seconds (instead of -ttl)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tributary-token -secret-file FILE -action publish|play (-url URL | -app APP -stream NAME) [-ttl 1h | -exp UNIX]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tributary-token: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *action != token.Publish && *action != token.Play {
		return fail("-action %q: want publish or play", *action)
	}
	if *secretFile == "" {
		return fail("-secret-file is required")
	}
	secret, err := readSecret(*secretFile, stdin)
	if err != nil {
		return fail("%v", err)
	}
	if *rawURL != "" {
		if *app != "" || *stream != "" {
			return fail("give -url or -app and -stream, not both")
		}
		a, s, err := splitURL(*rawURL)
		if err != nil {
			return fail("-url: %v", err)
		}
		*app, *stream = a, s
	}
	if *app == "" || *stream == "" {
		return fail("give -url, or -app and -stream")
	}
	expires := now.Add(*ttl)
	if *exp != 0 {
		expires = time.Unix(*exp, 0)
	} else if *ttl <= 0 {
		return fail("-ttl %s: must be more than 0", *ttl)
	}
	q := token.Query(secret, *action, *app, *stream, expires)
	switch {
	case *rawURL != "" && strings.Contains(*rawURL, "?"):
		fmt.Fprintln(stdout, *rawURL+"&"+q)
	case *rawURL != "":
		fmt.Fprintln(stdout, *rawURL+"?"+q)
	default:
		fmt.Fprintln(stdout, *stream+"?"+q)
	}
	return 0
}

// readSecret returns the first line of the file at path, or of stdin for
// "-", without surrounding white space.
func readSecret(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the secret: %w", err)
	}
	line = strings.TrimSpace(line)
	if len(line) < 16 {
		return nil, errors.New("the secret is shorter than 16 bytes")
	}
	return []byte(line), nil
}

// splitURL returns the application and stream names of an RTMP URL
// rtmp://host/app/stream, as ffmpeg and OBS send them. A URL with more
// path segments is ambiguous: give -app and -stream.
func splitURL(raw string) (app, stream string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return "", "", errors.New("want an rtmp:// or rtmps:// URL")
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) != 2 || segs[0] == "" || segs[1] == "" {
		return "", "", errors.New("want rtmp://host/app/stream (with more path segments, give -app and -stream)")
	}
	return segs[0], segs[1], nil
}
