package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sample is a configuration with one setting of every supported type, to
// test the mechanism apart from any process's settings.
type sample struct {
	Config  string
	Name    string
	Tags    []string
	Verbose bool
	Count   int
	Wait    time.Duration
	Size    Bytes
}

func defaultSample() sample {
	return sample{Name: "def", Tags: []string{"a"}, Count: 3, Wait: time.Second, Size: MiB}
}

func (s *sample) fields() *fieldSet {
	fs := &fieldSet{}
	fs.configFile(&s.Config, "file to read")
	fs.str(&s.Name, "name", "name", "a name")
	fs.list(&s.Tags, "tags", "tags", "some tags")
	fs.boolean(&s.Verbose, "verbose", "verbose", "say more")
	fs.integer(&s.Count, "count", "count", "how many")
	fs.duration(&s.Wait, "wait-time", "wait_time", "how long")
	fs.bytes(&s.Size, "size", "size", "how big")
	return fs
}

// writeFile writes content to a file in a test directory and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadSample loads a sample from file (written to a temporary file and
// passed with -config unless empty), env and args.
func loadSample(t *testing.T, file string, env, args []string) (sample, error) {
	t.Helper()
	if file != "" {
		args = append([]string{"-config", writeFile(t, "sample.yaml", file)}, args...)
	}
	s := defaultSample()
	var out bytes.Buffer
	err := s.fields().load("sample", args, env, &out)
	return s, err
}

const fullFile = `
name: from-file
tags: [x, y]
verbose: true
count: 7
wait_time: 1m30s
size: 4MiB
`

func TestLayers(t *testing.T) {
	fromFile := func(mod func(*sample)) sample {
		s := defaultSample()
		s.Name, s.Tags, s.Verbose, s.Count, s.Wait, s.Size = "from-file", []string{"x", "y"}, true, 7, 90*time.Second, 4*MiB
		if mod != nil {
			mod(&s)
		}
		return s
	}
	allEnv := []string{
		"TRIBUTARY_NAME=from-env", "TRIBUTARY_TAGS=e1, e2,,", "TRIBUTARY_VERBOSE=false",
		"TRIBUTARY_COUNT=-2", "TRIBUTARY_WAIT_TIME=250ms", "TRIBUTARY_SIZE=1GB",
	}
	fromEnv := func(s *sample) {
		s.Name, s.Tags, s.Verbose, s.Count, s.Wait, s.Size = "from-env", []string{"e1", "e2"}, false, -2, 250*time.Millisecond, 1e9
	}
	for _, tc := range []struct {
		name string
		file string
		env  []string
		args []string
		want sample // Config is filled in by the test when file is set
	}{
		{name: "defaults", want: defaultSample()},
		{name: "file over defaults", file: fullFile, want: fromFile(nil)},
		{
			name: "file sets only some", file: "count: 9\n",
			want: func() sample { s := defaultSample(); s.Count = 9; return s }(),
		},
		{name: "env over file", file: fullFile, env: allEnv, want: fromFile(fromEnv)},
		{
			name: "flags over env over file", file: fullFile, env: allEnv,
			args: []string{"-name", "from-flag", "-tags=f1,f2", "-verbose", "-count", "0", "-wait-time=2h", "-size", "512KiB"},
			want: fromFile(func(s *sample) {
				s.Name, s.Tags, s.Verbose, s.Count, s.Wait, s.Size = "from-flag", []string{"f1", "f2"}, true, 0, 2*time.Hour, 512*KiB
			}),
		},
		{
			name: "flags over defaults",
			args: []string{"-name=n", "-verbose=true", "-size=1000"},
			want: func() sample { s := defaultSample(); s.Name, s.Verbose, s.Size = "n", true, 1000; return s }(),
		},
		{
			name: "empty flag overrides env and file", file: fullFile, env: allEnv,
			args: []string{"-name=", "-tags="},
			want: fromFile(func(s *sample) { fromEnv(s); s.Name, s.Tags = "", nil }),
		},
		{
			name: "empty env overrides file", file: fullFile, env: []string{"TRIBUTARY_NAME=", "TRIBUTARY_TAGS="},
			want: fromFile(func(s *sample) { s.Name, s.Tags = "", nil }),
		},
		{
			name: "empty YAML values", file: "name:\ntags: ~\n",
			want: func() sample { s := defaultSample(); s.Name, s.Tags = "", nil; return s }(),
		},
		{
			name: "bool flag false over env", env: []string{"TRIBUTARY_VERBOSE=1"}, args: []string{"-verbose=false"},
			want: defaultSample(),
		},
		{
			name: "last flag wins", args: []string{"-count=1", "-count=2", "-name=a", "--name=b"},
			want: func() sample { s := defaultSample(); s.Count, s.Name = 2, "b"; return s }(),
		},
		{
			name: "YAML aliases and plain ints", file: "name: &n shared\ntags: [*n]\nsize: 65536\nverbose: yes\n",
			want: func() sample {
				s := defaultSample()
				s.Name, s.Tags, s.Size, s.Verbose = "shared", []string{"shared"}, 64*KiB, true
				return s
			}(),
		},
		{name: "empty file", file: "# nothing\n", want: defaultSample()},
		{name: "null document", file: "---\n~\n", want: defaultSample()},
		{
			name: "other environment ignored", env: []string{"HOME=/root", "TRIBUTARYX=1", "PATH", "tributary_name=x"},
			want: defaultSample(),
		},
		{
			name: "first duplicate environment entry wins", env: []string{"TRIBUTARY_COUNT=4", "TRIBUTARY_COUNT=5"},
			want: func() sample { s := defaultSample(); s.Count = 4; return s }(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadSample(t, tc.file, tc.env, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				tc.want.Config = got.Config
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConfigFileSource(t *testing.T) {
	envFile := writeFile(t, "env.yaml", "name: env-file\n")
	flagFile := writeFile(t, "flag.yaml", "name: flag-file\n")

	s := defaultSample()
	if err := s.fields().load("sample", nil, []string{"TRIBUTARY_CONFIG=" + envFile}, nil); err != nil {
		t.Fatal(err)
	}
	if s.Name != "env-file" || s.Config != envFile {
		t.Fatalf("TRIBUTARY_CONFIG: got %+v", s)
	}

	s = defaultSample()
	err := s.fields().load("sample", []string{"-config", flagFile}, []string{"TRIBUTARY_CONFIG=" + envFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "flag-file" || s.Config != flagFile {
		t.Fatalf("-config over TRIBUTARY_CONFIG: got %+v", s)
	}

	s = defaultSample()
	err = s.fields().load("sample", []string{"-config="}, []string{"TRIBUTARY_CONFIG=" + envFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "def" || s.Config != "" {
		t.Fatalf("-config= over TRIBUTARY_CONFIG: got %+v", s)
	}
}

// wantErrors fails unless err is non-nil and its message contains every
// string in want.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "config: ") {
			t.Errorf("error line without the package prefix: %q", line)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		args []string
		want []string
	}{
		{
			name: "unknown YAML key",
			file: "name: x\nwait_tme: 1s\nbogus: 1\n",
			want: []string{`sample.yaml:2: unknown key "wait_tme" (did you mean wait_time?)`, `sample.yaml:3: unknown key "bogus"`},
		},
		{
			name: "config key in the file",
			file: "config: other.yaml\n",
			want: []string{`sample.yaml:1: unknown key "config" (-config cannot be set in the file)`},
		},
		{
			name: "YAML type errors all at once",
			file: "name: [a]\ntags: x\nverbose: maybe\ncount: abc\nwait_time: 10\nsize: 12XB\ncount2: 1\n",
			want: []string{
				"sample.yaml:1: name: want a string, got a list",
				`sample.yaml:2: tags: want a list, got "x"`,
				`sample.yaml:3: verbose: want true or false, got "maybe"`,
				`sample.yaml:4: count: want an integer, got "abc"`,
				`sample.yaml:5: wait_time: want a duration such as 10s, 1m30s or 250ms, got "10"`,
				`sample.yaml:6: size: "12XB": unknown unit`,
				`sample.yaml:7: unknown key "count2"`,
			},
		},
		{
			name: "YAML values of the wrong kind",
			file: "count: 1.5\nsize: {a: 1}\ntags: [a, [b]]\nwait_time:\n",
			want: []string{
				`sample.yaml:1: count: want an integer, got "1.5"`,
				"sample.yaml:2: size: want a size, got a mapping",
				"sample.yaml:3: tags: list item: want a string, got a list",
				"sample.yaml:4: wait_time: want a duration, got no value",
			},
		},
		{name: "repeated key", file: "name: a\ncount: 1\nname: b\n", want: []string{"sample.yaml:3: key name repeats line 1"}},
		{name: "two documents", file: "name: a\n---\nname: b\n", want: []string{"sample.yaml:2: a second YAML document"}},
		{name: "not a mapping", file: "- name\n", want: []string{"sample.yaml:1: want a mapping of settings, got a list"}},
		{name: "non-scalar key", file: "[a]: 1\n", want: []string{"sample.yaml:1: want a setting name as the key, got a list"}},
		{name: "merge key", file: "base: &b {name: x}\n<<: *b\n", want: []string{`unknown key "base"`, "merge keys (<<) are not supported"}},
		{name: "syntax error", file: "name: a\n  count: 1\n", want: []string{"sample.yaml: yaml: line 2"}},
		{
			name: "env typo",
			env:  []string{"TRIBUTARY_NAM=x", "TRIBUTARY_ZZZ=1", "TRIBUTARY_CONFIG="},
			want: []string{"unknown environment variables TRIBUTARY_NAM (did you mean TRIBUTARY_NAME?), TRIBUTARY_ZZZ"},
		},
		{
			name: "bad env values",
			env:  []string{"TRIBUTARY_WAIT_TIME=abc", "TRIBUTARY_COUNT=1e3", "TRIBUTARY_SIZE=-1MiB", "TRIBUTARY_VERBOSE=yes"},
			want: []string{
				`TRIBUTARY_WAIT_TIME (-wait-time): want a duration such as 10s, 1m30s or 250ms, got "abc"`,
				`TRIBUTARY_COUNT (-count): want an integer, got "1e3"`,
				`TRIBUTARY_SIZE (-size): "-1MiB": sizes cannot be negative`,
				`TRIBUTARY_VERBOSE (-verbose): want true or false, got "yes"`,
			},
		},
		{
			name: "problems of every layer together",
			file: "nme: x\n",
			env:  []string{"TRIBUTARY_SIZ=1", "TRIBUTARY_COUNT=x"},
			want: []string{`unknown key "nme"`, "unknown environment variable TRIBUTARY_SIZ (did you mean TRIBUTARY_SIZE?)", "TRIBUTARY_COUNT (-count)"},
		},
		{name: "missing file", args: []string{"-config", "/nonexistent/sample.yaml"}, want: []string{"read config file", "/nonexistent/sample.yaml"}},
		{name: "positional argument", args: []string{"-count=1", "extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "bad flag value", args: []string{"-wait-time", "soon"}, want: []string{`invalid value "soon" for flag -wait-time`}},
		{name: "unknown flag", args: []string{"-nmae=x"}, want: []string{"flag provided but not defined: -nmae"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSample(t, tc.file, tc.env, tc.args)
			wantErrors(t, err, tc.want...)
		})
	}
}

func TestFlagErrorPrintsUsage(t *testing.T) {
	s := defaultSample()
	var out bytes.Buffer
	err := s.fields().load("sample", []string{"-count=many"}, nil, &out)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), `invalid value "many" for flag -count`) || !strings.Contains(out.String(), "Usage of sample:") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestEnvNames(t *testing.T) {
	var s sample
	want := map[string]string{
		"config": "TRIBUTARY_CONFIG", "name": "TRIBUTARY_NAME", "tags": "TRIBUTARY_TAGS",
		"verbose": "TRIBUTARY_VERBOSE", "count": "TRIBUTARY_COUNT", "wait-time": "TRIBUTARY_WAIT_TIME", "size": "TRIBUTARY_SIZE",
	}
	fs := s.fields()
	if len(fs.settings) != len(want) {
		t.Fatalf("%d settings, want %d", len(fs.settings), len(want))
	}
	for _, st := range fs.settings {
		if st.env != want[st.flag] {
			t.Errorf("-%s: env %s, want %s", st.flag, st.env, want[st.flag])
		}
	}
}

func TestConfigEnvAlwaysKnown(t *testing.T) {
	// A set of settings without a file still accepts TRIBUTARY_CONFIG.
	var name string
	fs := &fieldSet{}
	fs.str(&name, "name", "name", "a name")
	if err := fs.load("t", nil, []string{"TRIBUTARY_CONFIG=x.yaml", "TRIBUTARY_NAME=n"}, nil); err != nil {
		t.Fatal(err)
	}
	if name != "n" {
		t.Fatalf("name = %q", name)
	}
}

func TestSampleUsage(t *testing.T) {
	s := defaultSample()
	var out bytes.Buffer
	err := s.fields().load("sample", []string{"-h"}, nil, &out)
	if err != flag.ErrHelp {
		t.Fatalf("-h: err = %v, want flag.ErrHelp", err)
	}
	text := out.String()
	for _, want := range []string{
		"Usage of sample:",
		"-config string ",
		"file to read (env TRIBUTARY_CONFIG)\n",
		"-tags list ",
		`some tags (env TRIBUTARY_TAGS, yaml tags) (default "a")`,
		"-verbose ",
		"say more (env TRIBUTARY_VERBOSE, yaml verbose)\n",
		"how many (env TRIBUTARY_COUNT, yaml count) (default 3)",
		"-wait-time duration ",
		"how long (env TRIBUTARY_WAIT_TIME, yaml wait_time) (default 1s)",
		"-size size ",
		"(default 1MiB)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("usage lacks %q:\n%s", want, text)
		}
	}
	// The help column is aligned.
	col := -1
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		i := strings.Index(line, "   ") + 3
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if col == -1 {
			col = i
		} else if i != col {
			t.Errorf("help starts at column %d, not %d: %q", i, col, line)
		}
	}
}

func TestSampleMarkdown(t *testing.T) {
	s := defaultSample()
	md := s.fields().markdown()
	want := "| flag | env | yaml | default | meaning |\n" +
		"|---|---|---|---|---|\n" +
		"| `-config` | `TRIBUTARY_CONFIG` | — | `\"\"` | file to read |\n" +
		"| `-name` | `TRIBUTARY_NAME` | `name` | `def` | a name |\n" +
		"| `-tags` | `TRIBUTARY_TAGS` | `tags` | `a` | some tags |\n" +
		"| `-verbose` | `TRIBUTARY_VERBOSE` | `verbose` | `false` | say more |\n" +
		"| `-count` | `TRIBUTARY_COUNT` | `count` | `3` | how many |\n" +
		"| `-wait-time` | `TRIBUTARY_WAIT_TIME` | `wait_time` | `1s` | how long |\n" +
		"| `-size` | `TRIBUTARY_SIZE` | `size` | `1MiB` | how big |\n"
	if md != want {
		t.Fatalf("markdown:\n%s\nwant:\n%s", md, want)
	}
	fs := &fieldSet{}
	var v string
	fs.str(&v, "pipe", "pipe", "a | b")
	if got := fs.markdown(); !strings.Contains(got, `| a \| b |`) {
		t.Fatalf("pipe not escaped: %s", got)
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{"rtmp_adr", "rtmp_addr"},
		{"RTMP_ADDR", "rtmp_addr"},
		{"htp_addr", "http_addr"},
		{"id", ""},
		{"foo", ""},
		{"x", ""},
	} {
		if got := suggest(tc.name, []string{"rtmp_addr", "rtmps_addr", "http_addr", "ids_list"}); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
