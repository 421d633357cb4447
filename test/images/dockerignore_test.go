package images

import (
	"bufio"
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
)

// ignoreRule is one line of a .dockerignore file.
type ignoreRule struct {
	pattern   string
	exclusion bool // a "!" line: matching paths are sent after all
	re        *regexp.Regexp
}

// parseDockerignore reads a .dockerignore file with the rules of Docker's
// pattern matcher (moby/patternmatcher, used by BuildKit): one pattern a
// line, # comments, ! for exceptions, paths cleaned and relative to the
// context root, * and ? within one path element, ** across elements.
func parseDockerignore(text string) ([]ignoreRule, error) {
	var rules []ignoreRule
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.exclusion = true
			line = strings.TrimSpace(line[1:])
		}
		line = path.Clean(line)
		line = strings.TrimPrefix(line, "/")
		if line == "" || line == "." {
			continue
		}
		re, err := patternRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore pattern %q: %w", line, err)
		}
		r.pattern, r.re = line, re
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

// patternRegexp translates a pattern as moby/patternmatcher does.
func patternRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				i++
				if i+1 < len(rs) && rs[i+1] == '/' {
					i++
					b.WriteString("(.*/)?") // **/ matches zero or more directories
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\':
			if i+1 < len(rs) {
				i++
				b.WriteString(regexp.QuoteMeta(string(rs[i])))
			}
		case c == '[':
			end := strings.IndexRune(string(rs[i:]), ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated [")
			}
			class := string(rs[i+1 : i+end])
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ignored tells whether the build context leaves out file (a slash-separated
// path relative to the context root): the last rule that matches the file or
// one of its parent directories decides.
func ignored(rules []ignoreRule, file string) bool {
	file = path.Clean(file)
	var parents []string
	for d := path.Dir(file); d != "."; d = path.Dir(d) {
		parents = append(parents, d)
	}
	excluded := false
	for _, r := range rules {
		if r.exclusion != excluded {
			continue // cannot change the outcome
		}
		match := r.re.MatchString(file)
		for _, p := range parents {
			if match {
				break
			}
			match = r.re.MatchString(p)
		}
		if match {
			excluded = !r.exclusion
		}
	}
	return excluded
}

func TestDockerignoreMatcher(t *testing.T) {
	rules, err := parseDockerignore(`
# comment
*
!go.mod
!src/
**/*_test.go
src/gen/**
!src/gen/keep.go
/docs
a?c
[xy].txt
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want bool
	}{
		{"go.mod", false},
		{"go.sum", true},
		{"README.md", true},
		{"src/main.go", false},
		{"src/deep/er/file.go", false},
		{"src/main_test.go", true},
		{"src/deep/x_test.go", true},
		{"src/gen/a.go", true},
		{"src/gen/keep.go", false},
		{"docs/x.md", true},
		{"other/src/main.go", true},
		{"abc", true},
		{"x.txt", true},
	} {
		if got := ignored(rules, c.file); got != c.want {
			t.Errorf("ignored(%q) = %v, want %v", c.file, got, c.want)
		}
	}

	// Without the catch-all, only the named patterns exclude.
	rules, err = parseDockerignore("a?c\n[xy].txt\n**/testdata\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want bool
	}{
		{"abc", true},
		{"ac", false},
		{"a/c", false},
		{"x.txt", true},
		{"z.txt", false},
		{"testdata/f", true},
		{"pkg/a/testdata/fuzz/f", true},
		{"pkg/a/f.go", false},
	} {
		if got := ignored(rules, c.file); got != c.want {
			t.Errorf("ignored(%q) = %v, want %v", c.file, got, c.want)
		}
	}
}
