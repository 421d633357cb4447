package images

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// This file parses the subset of the Dockerfile syntax the project's
// Dockerfile uses: instructions with --flags, line continuations, comments,
// ARG and ENV, and shell commands joined by && ; || |. Anything it does not
// understand (heredocs, escape directives, unsupported expansions) is an
// error, so the checks never pass on a misread file.

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	globalArgs map[string]string // ARGs before the first FROM, with their defaults
	stages     []*stage
}

// stage is one FROM and the instructions after it.
type stage struct {
	name     string // the AS name, lower case; "" when unnamed
	base     string // the FROM image or stage, global ARGs expanded
	platform string // the --platform flag, unexpanded
	line     int
	instrs   []instruction
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int
	cmd   string // upper case
	flags []flag // leading --name=value options, in order
	rest  string // what follows the flags
}

type flag struct{ name, value string }

// flag returns the value of the first flag called name.
func (in instruction) flag(name string) (string, bool) {
	for _, f := range in.flags {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// stage returns the stage called name, or nil.
func (d *dockerfile) stage(name string) *stage {
	for _, s := range d.stages {
		if s.name == strings.ToLower(name) {
			return s
		}
	}
	return nil
}

// stageIndex returns the position of the stage called name, or -1.
func (d *dockerfile) stageIndex(name string) int {
	for i, s := range d.stages {
		if s.name == strings.ToLower(name) {
			return i
		}
	}
	return -1
}

// parseDockerfile parses text.
func parseDockerfile(text string) (*dockerfile, error) {
	d := &dockerfile{globalArgs: map[string]string{}}
	var (
		cur     *stage
		pending strings.Builder
		startLn int
		inInstr bool
		lineNo  int
		atTop   = true
	)
	finish := func() error {
		inInstr = false
		in, err := parseInstruction(startLn, pending.String())
		pending.Reset()
		if err != nil {
			return err
		}
		if in.cmd == "FROM" {
			s, err := parseFrom(in, d.globalArgs)
			if err != nil {
				return err
			}
			if s.name != "" && d.stage(s.name) != nil {
				return fmt.Errorf("line %d: stage %q defined twice", in.line, s.name)
			}
			cur = s
			d.stages = append(d.stages, s)
			return nil
		}
		if cur == nil {
			if in.cmd != "ARG" {
				return fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			for name, val := range parseArgs(in.rest) {
				d.globalArgs[name] = val
			}
			return nil
		}
		cur.instrs = append(cur.instrs, in)
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			// A parser directive is a comment on the first lines; escape is the
			// one that would change how the rest reads.
			if atTop && strings.HasPrefix(strings.ToLower(strings.ReplaceAll(trimmed, " ", "")), "#escape=") {
				return nil, fmt.Errorf("line %d: escape directives are not supported", lineNo)
			}
			continue
		}
		if trimmed == "" {
			continue
		}
		atTop = false
		if !inInstr {
			inInstr = true
			startLn = lineNo
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending.WriteString(strings.TrimSuffix(trimmed, `\`))
			pending.WriteByte(' ')
			continue
		}
		pending.WriteString(trimmed)
		if err := finish(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inInstr {
		return nil, fmt.Errorf("line %d: the file ends inside a continued line", startLn)
	}
	if len(d.stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return d, nil
}

// parseInstruction splits one logical line into command, flags and rest.
func parseInstruction(line int, s string) (instruction, error) {
	cmd, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	in := instruction{line: line, cmd: strings.ToUpper(cmd), rest: strings.TrimSpace(rest)}
	if strings.Contains(in.rest, "<<") && (in.cmd == "RUN" || in.cmd == "COPY" || in.cmd == "ADD") {
		return in, fmt.Errorf("line %d: heredocs are not supported", line)
	}
	switch in.cmd {
	case "FROM", "RUN", "COPY", "ADD":
		for strings.HasPrefix(in.rest, "--") {
			tok, after, _ := strings.Cut(in.rest, " ")
			name, value, _ := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
			in.flags = append(in.flags, flag{name: name, value: value})
			in.rest = strings.TrimSpace(after)
		}
	}
	return in, nil
}

// parseFrom reads FROM [--platform=P] IMAGE [AS NAME].
func parseFrom(in instruction, globalArgs map[string]string) (*stage, error) {
	f := strings.Fields(in.rest)
	s := &stage{line: in.line}
	s.platform, _ = in.flag("platform")
	switch {
	case len(f) == 1:
	case len(f) == 3 && strings.EqualFold(f[1], "AS"):
		s.name = strings.ToLower(f[2])
	default:
		return nil, fmt.Errorf("line %d: cannot read FROM %s", in.line, in.rest)
	}
	base, err := expand(f[0], globalArgs)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", in.line, err)
	}
	s.base = base
	return s, nil
}

// parseArgs reads the names and defaults of an ARG instruction.
func parseArgs(rest string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(rest) {
		name, val, _ := strings.Cut(f, "=")
		m[name] = strings.Trim(val, `"`)
	}
	return m
}

// parseEnv reads ENV K=V ... (or the old ENV K V).
func parseEnv(rest string) map[string]string {
	m := map[string]string{}
	if !strings.Contains(strings.Fields(rest)[0], "=") {
		k, v, _ := strings.Cut(rest, " ")
		m[k] = strings.TrimSpace(v)
		return m
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = strings.Trim(v, `"`)
	}
	return m
}

// expand replaces $NAME and ${NAME} with vars; an unknown name is an error.
func expand(s string, vars map[string]string) (string, error) {
	var missing []string
	out := os.Expand(s, func(name string) string {
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%q uses undeclared %s", s, strings.Join(missing, ", "))
	}
	return out, nil
}

// stageVars returns the variables a RUN at position idx of s sees: the
// stage's ARGs (overridden by buildArgs) and ENVs declared before it.
func stageVars(s *stage, idx int, globalArgs, buildArgs map[string]string) map[string]string {
	vars := map[string]string{}
	for _, in := range s.instrs[:idx] {
		switch in.cmd {
		case "ARG":
			for name, def := range parseArgs(in.rest) {
				if v, ok := buildArgs[name]; ok {
					def = v
				} else if v, ok := globalArgs[name]; ok && def == "" {
					def = v
				}
				vars[name] = def
			}
		case "ENV":
			for k, v := range parseEnv(in.rest) {
				vars[k] = v
			}
		}
	}
	return vars
}

// shellCommands splits a shell command line into simple commands (split at
// && || ; |), each a list of words with quotes removed and variables expanded
// from vars. Unknown variables and unsupported syntax are errors.
func shellCommands(s string, vars map[string]string) ([][]string, error) {
	var (
		cmds  [][]string
		words []string
		word  strings.Builder
		inW   bool // a word has started (possibly empty, as in "")
		rs    = []rune(s)
	)
	endWord := func() {
		if inW {
			words = append(words, word.String())
			word.Reset()
			inW = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	expandAt := func(i int) (int, error) { // rs[i] == '$'; returns the index of the last rune used
		if i+1 >= len(rs) {
			word.WriteRune('$')
			return i, nil
		}
		var name string
		j := i + 1
		if rs[j] == '{' {
			end := strings.IndexRune(string(rs[j:]), '}')
			if end < 0 {
				return 0, fmt.Errorf("unterminated ${ in %q", s)
			}
			name = string(rs[j+1 : j+end])
			j += end
		} else {
			for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || (j > i+1 && unicode.IsDigit(rs[j]))) {
				j++
			}
			name = string(rs[i+1 : j])
			j--
		}
		if name == "" || strings.ContainsAny(name, ":-+?#%/") {
			return 0, fmt.Errorf("unsupported expansion $%s in %q", name, s)
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("%q uses undeclared $%s", s, name)
		}
		word.WriteString(v)
		return j, nil
	}
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\'':
			inW = true
			end := strings.IndexRune(string(rs[i+1:]), '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			word.WriteString(string(rs[i+1 : i+1+end]))
			i += end + 1
		case c == '"':
			inW = true
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				switch rs[i] {
				case '\\':
					if i+1 < len(rs) && strings.ContainsRune(`$"\`, rs[i+1]) {
						i++
					}
					word.WriteRune(rs[i])
				case '$':
					j, err := expandAt(i)
					if err != nil {
						return nil, err
					}
					i = j
				case '`':
					return nil, fmt.Errorf("command substitution in %q", s)
				default:
					word.WriteRune(rs[i])
				}
			}
			if i >= len(rs) {
				return nil, fmt.Errorf(`unterminated " in %q`, s)
			}
		case c == '\\':
			inW = true
			if i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
			}
		case c == '$':
			inW = true
			if i+1 < len(rs) && rs[i+1] == '(' {
				return nil, fmt.Errorf("command substitution in %q", s)
			}
			j, err := expandAt(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '`':
			return nil, fmt.Errorf("command substitution in %q", s)
		case c == '&' || c == '|':
			if i+1 < len(rs) && rs[i+1] == c {
				i++
			} else if c == '&' {
				return nil, fmt.Errorf("background command in %q", s)
			}
			endCmd()
		case c == ';':
			endCmd()
		case unicode.IsSpace(c):
			endWord()
		default:
			inW = true
			word.WriteRune(c)
		}
	}
	endCmd()
	return cmds, nil
}

// goBuild is one `go build` command of a RUN instruction.
type goBuild struct {
	stage string
	line  int
	env   map[string]string // assignments before the command
	flags []string          // build flags without -o
	out   string
	pkgs  []string
}

// key identifies what a build compiles, whatever its output path.
func (b goBuild) key() string {
	return strings.Join(b.flags, "\x00") + "\x01" + strings.Join(b.pkgs, "\x00")
}

// valueFlags are the go build flags that take a value as the next argument.
var valueFlags = map[string]bool{
	"-ldflags": true, "-gcflags": true, "-asmflags": true, "-gccgoflags": true, "-tags": true,
	"-mod": true, "-modfile": true, "-buildmode": true, "-p": true, "-pkgdir": true, "-overlay": true,
	"-pgo": true, "-buildvcs": true, "-installsuffix": true, "-toolexec": true, "-C": true, "-compiler": true,
}

// parseGoBuild reads a simple command; ok is false when it is not `go build`.
func parseGoBuild(words []string) (b goBuild, ok bool, err error) {
	b.env = map[string]string{}
	i := 0
	for ; i < len(words); i++ {
		k, v, isAssign := strings.Cut(words[i], "=")
		if !isAssign || k == "" || strings.ContainsAny(k, "-/.") {
			break
		}
		b.env[k] = v
	}
	if len(words)-i < 2 || words[i] != "go" || words[i+1] != "build" {
		return b, false, nil
	}
	args := words[i+2:]
	for j := 0; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "-o":
			if j+1 >= len(args) {
				return b, true, fmt.Errorf("-o without a value")
			}
			j++
			b.out = args[j]
		case strings.HasPrefix(a, "-o="):
			b.out = strings.TrimPrefix(a, "-o=")
		case strings.HasPrefix(a, "-"):
			b.flags = append(b.flags, a)
			if valueFlags[a] {
				if j+1 >= len(args) {
					return b, true, fmt.Errorf("%s without a value", a)
				}
				j++
				b.flags = append(b.flags, args[j])
			}
		default:
			b.pkgs = append(b.pkgs, a)
		}
	}
	if b.out == "" || len(b.pkgs) == 0 {
		return b, true, fmt.Errorf("go build needs -o and a package: %q", words)
	}
	return b, true, nil
}

// goBuilds returns every go build command of the Dockerfile's RUN
// instructions, with the build args buildArgs.
func (d *dockerfile) goBuilds(buildArgs map[string]string) ([]goBuild, error) {
	var all []goBuild
	for _, s := range d.stages {
		for idx, in := range s.instrs {
			if in.cmd != "RUN" {
				continue
			}
			if strings.HasPrefix(in.rest, "[") {
				continue // exec form: no shell, no go build chains
			}
			cmds, err := shellCommands(in.rest, stageVars(s, idx, d.globalArgs, buildArgs))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", in.line, err)
			}
			for _, words := range cmds {
				b, ok, err := parseGoBuild(words)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", in.line, err)
				}
				if ok {
					b.stage, b.line = s.name, in.line
					all = append(all, b)
				}
			}
		}
	}
	return all, nil
}

// runWords returns the words of every simple command of the stage's RUN
// instructions.
func (d *dockerfile) runWords(s *stage, buildArgs map[string]string) ([][]string, error) {
	var all [][]string
	for idx, in := range s.instrs {
		if in.cmd != "RUN" || strings.HasPrefix(in.rest, "[") {
			continue
		}
		cmds, err := shellCommands(in.rest, stageVars(s, idx, d.globalArgs, buildArgs))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.line, err)
		}
		all = append(all, cmds...)
	}
	return all, nil
}

// copySpec is a COPY instruction's sources and destination.
type copySpec struct {
	in   instruction
	from string // the --from stage, "" for the build context
	srcs []string
	dst  string
}

// copies returns the COPY instructions of s. The JSON form is read too.
func copies(s *stage) ([]copySpec, error) {
	var out []copySpec
	for _, in := range s.instrs {
		if in.cmd != "COPY" && in.cmd != "ADD" {
			continue
		}
		var parts []string
		if strings.HasPrefix(in.rest, "[") {
			for p := range strings.SplitSeq(strings.Trim(in.rest, "[]"), ",") {
				parts = append(parts, strings.Trim(strings.TrimSpace(p), `"`))
			}
		} else {
			parts = strings.Fields(in.rest)
		}
		if len(parts) < 2 {
			return nil, fmt.Errorf("line %d: %s needs a source and a destination", in.line, in.cmd)
		}
		from, _ := in.flag("from")
		out = append(out, copySpec{in: in, from: strings.ToLower(from), srcs: parts[:len(parts)-1], dst: parts[len(parts)-1]})
	}
	return out, nil
}
