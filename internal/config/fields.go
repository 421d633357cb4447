package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// envPrefix starts the name of every environment variable a setting reads.
const envPrefix = "TRIBUTARY_"

// configFlag is the flag naming the YAML file; its environment variable is
// envPrefix + "CONFIG".
const configFlag = "config"

// setting is one configuration value bound once to its flag, YAML key,
// environment variable, default, help text and struct field.
type setting struct {
	flag string // flag name without the leading dash; "" for a section of the file only
	key  string // YAML key; "" when the file cannot set it
	env  string // environment variable; "" when there is none
	help string

	typ        string // value type shown in the usage text; "" for bool flags
	isBool     bool   // the flag may be given without a value
	defUsage   string // default as the usage text shows it; "" omits it
	defMD      string // default as the Markdown table shows it
	parse      func(string) (func(), error)
	decodeYAML func(*yaml.Node) (func(), error)

	// origin says where the current value came from when that was the
	// YAML file or the environment; "" for a default or a flag.
	origin string
}

// describeDefault replaces the default shown in the usage text and the
// Markdown table, for defaults that depend on the machine.
func (s *setting) describeDefault(text string) *setting {
	s.defUsage = text
	s.defMD = text
	return s
}

// fieldSet binds the settings of one configuration struct: it is the
// mechanism behind LoadEdge and any other process's loader.
type fieldSet struct {
	settings []*setting
	config   *string // the field bound by configFile; nil when there is none
}

// lookupFlag returns the setting with flag name name, or nil.
func (fs *fieldSet) lookupFlag(name string) *setting {
	for _, s := range fs.settings {
		if s.flag != "" && s.flag == name {
			return s
		}
	}
	return nil
}

// kind describes how one Go type is read from text and YAML and shown.
type kind[T any] struct {
	name   string                      // type name in the usage text
	parse  func(string) (T, error)     // flag and environment syntax
	yaml   func(*yaml.Node) (T, error) // YAML syntax
	usage  func(T) string              // default in the usage text; "" omits it
	md     func(T) string              // default in the Markdown table
	isBool bool
}

// bind adds a setting for *p. The value *p holds when bind is called is the
// setting's default.
func bind[T any](fs *fieldSet, p *T, k kind[T], flag, key, help string) *setting {
	s := &setting{
		flag:     flag,
		key:      key,
		env:      envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_")),
		help:     help,
		typ:      k.name,
		isBool:   k.isBool,
		defUsage: k.usage(*p),
		defMD:    k.md(*p),
	}
	s.parse = func(text string) (func(), error) {
		v, err := k.parse(text)
		if err != nil {
			return nil, err
		}
		return func() { *p = v }, nil
	}
	s.decodeYAML = func(n *yaml.Node) (func(), error) {
		v, err := k.yaml(n)
		if err != nil {
			return nil, err
		}
		return func() { *p = v }, nil
	}
	fs.settings = append(fs.settings, s)
	return s
}

// configFile binds the setting naming the YAML file: flag -config and
// environment variable TRIBUTARY_CONFIG, not settable from the file itself.
func (fs *fieldSet) configFile(p *string, help string) *setting {
	fs.config = p
	return bind(fs, p, stringKind, configFlag, "", help)
}

// str binds a string setting.
func (fs *fieldSet) str(p *string, flag, key, help string) *setting {
	return bind(fs, p, stringKind, flag, key, help)
}

// list binds a list setting: comma-separated in flags and the environment
// (spaces around items trimmed, empty items dropped), a YAML sequence of
// scalars in the file.
func (fs *fieldSet) list(p *[]string, flag, key, help string) *setting {
	return bind(fs, p, listKind, flag, key, help)
}

// boolean binds a bool setting.
func (fs *fieldSet) boolean(p *bool, flag, key, help string) *setting {
	return bind(fs, p, boolKind, flag, key, help)
}

// integer binds an int setting.
func (fs *fieldSet) integer(p *int, flag, key, help string) *setting {
	return bind(fs, p, intKind, flag, key, help)
}

// duration binds a time.Duration setting written as "10s", "1m30s".
func (fs *fieldSet) duration(p *time.Duration, flag, key, help string) *setting {
	return bind(fs, p, durationKind, flag, key, help)
}

// bytes binds a Bytes setting written as "16MiB", "1000".
func (fs *fieldSet) bytes(p *Bytes, flag, key, help string) *setting {
	return bind(fs, p, bytesKind, flag, key, help)
}

// code formats s as a Markdown code span; "" for the empty string.
func code(s string) string {
	if s == "" {
		return "`\"\"`"
	}
	return "`" + s + "`"
}

// lineError is a problem in a YAML value at a line other than the one the
// value starts on, such as an item of a list.
type lineError struct {
	line int
	err  error
}

// Error returns the problem with its line.
func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// Unwrap returns the problem.
func (e *lineError) Unwrap() error { return e.err }

var (
	stringKind = kind[string]{
		name:  "string",
		parse: func(s string) (string, error) { return s, nil },
		yaml: func(n *yaml.Node) (string, error) {
			if isNull(n) {
				return "", nil
			}
			if err := wantScalar(n, "a string"); err != nil {
				return "", err
			}
			return n.Value, nil
		},
		usage: func(v string) string {
			if v == "" {
				return ""
			}
			return strconv.Quote(v)
		},
		md: func(v string) string {
			return code(v)
		},
	}
	listKind = kind[[]string]{
		name:  "list",
		parse: func(s string) ([]string, error) { return splitList(s), nil },
		yaml: func(n *yaml.Node) ([]string, error) {
			if isNull(n) {
				return nil, nil
			}
			if n.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("want a list, got %s", describeNode(n))
			}
			out := make([]string, 0, len(n.Content))
			for _, item := range n.Content {
				item = resolveAlias(item)
				if err := wantScalar(item, "a string"); err != nil {
					return nil, &lineError{line: item.Line, err: fmt.Errorf("list item: %w", err)}
				}
				out = append(out, item.Value)
			}
			return out, nil
		},
		usage: func(v []string) string {
			if len(v) == 0 {
				return ""
			}
			return strconv.Quote(strings.Join(v, ","))
		},
		md: func(v []string) string {
			if len(v) == 0 {
				return "none"
			}
			return code(strings.Join(v, ","))
		},
	}
	boolKind = kind[bool]{
		name:   "",
		isBool: true,
		parse: func(s string) (bool, error) {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return false, fmt.Errorf("want true or false, got %q", s)
			}
			return v, nil
		},
		yaml: func(n *yaml.Node) (bool, error) {
			var v bool
			if err := wantScalar(n, "true or false"); err != nil {
				return false, err
			}
			if err := n.Decode(&v); err != nil {
				return false, fmt.Errorf("want true or false, got %q", n.Value)
			}
			return v, nil
		},
		usage: func(v bool) string {
			if !v {
				return ""
			}
			return "true"
		},
		md: func(v bool) string { return code(strconv.FormatBool(v)) },
	}
	intKind = kind[int]{
		name: "int",
		parse: func(s string) (int, error) {
			v, err := strconv.Atoi(s)
			if err != nil {
				return 0, fmt.Errorf("want an integer, got %q", s)
			}
			return v, nil
		},
		yaml: func(n *yaml.Node) (int, error) {
			var v int
			if err := wantScalar(n, "an integer"); err != nil {
				return 0, err
			}
			if n.ShortTag() != "!!int" || n.Decode(&v) != nil {
				return 0, fmt.Errorf("want an integer, got %q", n.Value)
			}
			return v, nil
		},
		usage: func(v int) string {
			if v == 0 {
				return ""
			}
			return strconv.Itoa(v)
		},
		md: func(v int) string { return code(strconv.Itoa(v)) },
	}
	durationKind = kind[time.Duration]{
		name:  "duration",
		parse: parseDuration,
		yaml: func(n *yaml.Node) (time.Duration, error) {
			if err := wantScalar(n, "a duration"); err != nil {
				return 0, err
			}
			return parseDuration(n.Value)
		},
		usage: func(v time.Duration) string {
			if v == 0 {
				return ""
			}
			return v.String()
		},
		md: func(v time.Duration) string { return code(v.String()) },
	}
	bytesKind = kind[Bytes]{
		name:  "size",
		parse: parseBytes,
		yaml:  yamlBytes,
		usage: func(v Bytes) string {
			if v == 0 {
				return ""
			}
			return v.String()
		},
		md: func(v Bytes) string { return code(v.String()) },
	}
)

// parseDuration parses a Go duration ("10s", "1m30s", "250ms").
func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 10s, 1m30s or 250ms, got %q", s)
	}
	return v, nil
}

// splitList splits a comma-separated list, trims spaces around items and
// drops empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// resolveAlias follows YAML aliases (*name) to the node they refer to.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a YAML null (an empty value, "~" or "null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// wantScalar returns an error unless n is a non-null scalar.
func wantScalar(n *yaml.Node, want string) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return fmt.Errorf("want %s, got %s", want, describeNode(n))
	}
	return nil
}

// describeNode names the kind of a YAML node for error messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "no value"
		}
		return strconv.Quote(n.Value)
	default:
		return "a YAML node of another kind"
	}
}
