package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// flagRecord is a flag given on the command line, parsed but not yet
// applied: flags override the file and the environment, which are read
// after the command line is parsed.
type flagRecord struct {
	s     *setting
	apply func()
}

// flagValue is the flag.Value of a setting: Set checks the text and
// records the flag for later.
type flagValue struct {
	s       *setting
	records *[]flagRecord
}

// String returns "": the usage text is written by fieldSet.writeUsage, which
// knows the real defaults.
func (v *flagValue) String() string { return "" }

// Set parses text and records it; a later occurrence of the same flag wins.
func (v *flagValue) Set(text string) error {
	apply, err := v.s.parse(text)
	if err != nil {
		return err
	}
	*v.records = append(*v.records, flagRecord{s: v.s, apply: apply})
	return nil
}

// IsBoolFlag lets a bool setting be given as "-name" alone.
func (v *flagValue) IsBoolFlag() bool { return v.s != nil && v.s.isBool }

// load fills the bound fields, over the defaults they hold, from the YAML
// file named by -config or TRIBUTARY_CONFIG, then from the environment
// (environ in os.Environ form), then from the flags in args. It returns
// flag.ErrHelp, unwrapped, when args ask for help; the usage text then has
// been written to out. Any other problem in the file or the environment is
// collected, and all of them are returned joined. load does not validate the
// values.
func (fs *fieldSet) load(name string, args, environ []string, out io.Writer) error {
	var records []flagRecord
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(out)
	flags.Usage = func() { fs.writeUsage(flags.Output(), name) }
	for _, s := range fs.settings {
		if s.flag != "" {
			flags.Var(&flagValue{s: s, records: &records}, s.flag, s.help)
		}
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("config: %w", err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q (settings are given as -name=value)", flags.Arg(0))
	}

	var envErrs []error
	env := envMap(environ)
	if err := fs.checkEnvNames(env); err != nil {
		envErrs = append(envErrs, err)
	}
	type envValue struct {
		s     *setting
		apply func()
	}
	var envValues []envValue
	for _, s := range fs.settings {
		text, ok := env[s.env]
		if !ok || s.env == "" {
			continue
		}
		apply, err := s.parse(text)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("config: %s (-%s): %w", s.env, s.flag, err))
			continue
		}
		envValues = append(envValues, envValue{s: s, apply: apply})
	}

	var errs []error
	if path := fs.configPath(env, records); path != "" {
		errs = fs.applyFile(path)
	}
	errs = append(errs, envErrs...)
	for _, v := range envValues {
		v.apply()
		v.s.origin = v.s.env
	}
	for _, r := range records {
		r.apply()
		r.s.origin = ""
	}
	return errors.Join(errs...)
}

// configPath returns the YAML file to read: the last -config flag, else
// TRIBUTARY_CONFIG, else the default of the -config setting.
func (fs *fieldSet) configPath(env map[string]string, records []flagRecord) string {
	s := fs.lookupFlag(configFlag)
	if s == nil || fs.config == nil {
		return ""
	}
	for _, r := range slices.Backward(records) {
		if r.s == s {
			r.apply()
			return *fs.config
		}
	}
	if text, ok := env[s.env]; ok {
		return text
	}
	return *fs.config
}

// envMap turns environ ("NAME=value" entries) into a map. As with
// os.LookupEnv, the first entry for a name wins; entries without '=' are
// ignored.
func envMap(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, dup := env[k]; !dup {
			env[k] = v
		}
	}
	return env
}

// checkEnvNames returns an error listing the variables with the
// TRIBUTARY_ prefix that name no setting, so that a misspelt variable is
// not silently ignored. TRIBUTARY_CONFIG is always allowed, and so is a
// variable that names a setting of another Tributary program: the programs
// may share an environment. So are the variables that hold a secret
// (TRIBUTARY_NATS_PASSWORD, docs/security.md).
func (fs *fieldSet) checkEnvNames(env map[string]string) error {
	known := append(envNames(fs), secretEnvNames...)
	others := allProgramsEnv()
	var unknown []string
	for k := range env {
		rest, ok := strings.CutPrefix(k, envPrefix)
		if !ok || k == envPrefix+"CONFIG" || slices.Contains(known, rest) || slices.Contains(others, rest) {
			continue
		}
		hint := suggest(rest, known)
		if hint == "" {
			hint = suggest(rest, others)
		}
		if hint != "" {
			k += " (did you mean " + envPrefix + hint + "?)"
		}
		unknown = append(unknown, k)
	}
	switch len(unknown) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("config: unknown environment variable %s", unknown[0])
	}
	slices.Sort(unknown)
	return fmt.Errorf("config: unknown environment variables %s", strings.Join(unknown, ", "))
}

// applyFile reads the YAML file at path and applies its settings. It
// returns every problem it finds: unknown and repeated keys (with their
// line) and values of the wrong type.
func (fs *fieldSet) applyFile(path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config: read config file: %w", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return []error{fmt.Errorf("config: %s: %w", path, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return []error{fmt.Errorf("config: %s: %w", path, err)}
		}
		return []error{fmt.Errorf("config: %s:%d: a second YAML document; the file must hold one mapping of settings", path, next.Line)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := resolveAlias(doc.Content[0])
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("config: %s:%d: want a mapping of settings, got %s", path, root.Line, describeNode(root))}
	}

	var errs []error
	seen := make(map[string]int, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("config: %s:%d: want a setting name as the key, got %s", path, k.Line, describeNode(k)))
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("config: %s:%d: key %s repeats line %d", path, k.Line, key, first))
			continue
		}
		seen[key] = k.Line
		s := fs.lookupKey(key)
		if s == nil {
			errs = append(errs, fs.unknownKey(path, k))
			continue
		}
		apply, err := s.decodeYAML(v)
		if err != nil {
			// A section (auth) reports each of its problems with its line.
			list := []error{err}
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				list = joined.Unwrap()
			}
			for _, err := range list {
				line := v.Line
				if le, ok := errors.AsType[*lineError](err); ok {
					line, err = le.line, le.err
				}
				errs = append(errs, fmt.Errorf("config: %s:%d: %s: %w", path, line, key, err))
			}
			continue
		}
		apply()
		s.origin = fmt.Sprintf("%s at %s:%d", key, path, k.Line)
	}
	return errs
}

// unknownKey describes a key that names no setting.
func (fs *fieldSet) unknownKey(path string, k *yaml.Node) error {
	if k.ShortTag() == "!!merge" {
		return fmt.Errorf("config: %s:%d: merge keys (<<) are not supported", path, k.Line)
	}
	var keys []string
	for _, s := range fs.settings {
		if s.key != "" {
			keys = append(keys, s.key)
		}
	}
	msg := fmt.Sprintf("config: %s:%d: unknown key %q", path, k.Line, k.Value)
	if owner := keyOwner(k.Value); owner != "" {
		msg += " (a setting of the " + owner + "; each program reads its own file)"
	} else if hint := suggest(k.Value, keys); hint != "" {
		msg += " (did you mean " + hint + "?)"
	} else if s := fs.lookupFlag(strings.ReplaceAll(k.Value, "_", "-")); s != nil && s.key == "" {
		msg += fmt.Sprintf(" (-%s cannot be set in the file)", s.flag)
	}
	return errors.New(msg)
}

// lookupKey returns the setting with YAML key key, or nil.
func (fs *fieldSet) lookupKey(key string) *setting {
	for _, s := range fs.settings {
		if s.key != "" && s.key == key {
			return s
		}
	}
	return nil
}

// annotate rewrites the setting errors in err (as Validate returns them)
// to say where each offending value came from, when that was the file or
// the environment.
func (fs *fieldSet) annotate(err error) error {
	if err == nil {
		return nil
	}
	list := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		list = joined.Unwrap()
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var se *settingError
		if errors.As(e, &se) {
			if s := fs.lookupFlag(se.flag); s != nil && s.origin != "" {
				c := *se
				c.origin = s.origin
				e = &c
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// writeUsage writes the -h text: one line per flag with its type, help,
// environment variable, YAML key and default.
func (fs *fieldSet) writeUsage(w io.Writer, name string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage of %s:\n\n", name)
	b.WriteString("Settings come from defaults, then the YAML file named by -config, then\n")
	b.WriteString(envPrefix + "* environment variables, then flags; each overrides the previous.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	for _, s := range fs.settings {
		if s.flag == "" {
			fmt.Fprintf(tw, "  yaml %s\t%s (in the YAML file only)\n", s.key, s.help)
			continue
		}
		fmt.Fprintf(tw, "  -%s", s.flag)
		if s.typ != "" {
			fmt.Fprintf(tw, " %s", s.typ)
		}
		fmt.Fprintf(tw, "\t%s (env %s", s.help, s.env)
		if s.key != "" {
			fmt.Fprintf(tw, ", yaml %s", s.key)
		}
		fmt.Fprint(tw, ")")
		if s.defUsage != "" {
			fmt.Fprintf(tw, " (default %s)", s.defUsage)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	io.WriteString(w, b.String())
}

// markdown returns a Markdown table of the settings: flag, environment
// variable, YAML key, default and meaning.
func (fs *fieldSet) markdown() string {
	var b strings.Builder
	b.WriteString("| flag | env | yaml | default | meaning |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range fs.settings {
		key := "—"
		if s.key != "" {
			key = code(s.key)
		}
		flag, env := "—", "—"
		if s.flag != "" {
			flag, env = code("-"+s.flag), code(s.env)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n",
			flag, env, key, mdEscape(s.defMD), mdEscape(s.help))
	}
	return b.String()
}

// mdEscape escapes the characters that would break a Markdown table cell.
func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// suggest returns the candidate closest to name when it is close enough to
// be a likely misspelling, else "".
func suggest(name string, candidates []string) string {
	best, bestDist := "", max(1, len(name)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
