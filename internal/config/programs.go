package config

import "strings"

// program is one of Tributary's programs, as far as the checks that look
// across programs need to know it.
type program struct {
	name   string
	fields func() *fieldSet
}

// programs returns every program that reads TRIBUTARY_* variables. The
// programs may share an environment (a shell, a Kubernetes ConfigMap), so a
// variable that names a setting of any of them is not a typo for another.
func programs() []program {
	return []program{
		{name: "edge", fields: func() *fieldSet { return (&Edge{}).fields() }},
		{name: "controller", fields: func() *fieldSet { return (&Controller{}).fields() }},
	}
}

// envNames returns the environment variable names of the settings in fs,
// without the TRIBUTARY_ prefix.
func envNames(fs *fieldSet) []string {
	names := make([]string, 0, len(fs.settings))
	for _, s := range fs.settings {
		if s.env != "" {
			names = append(names, strings.TrimPrefix(s.env, envPrefix))
		}
	}
	return names
}

// allProgramsEnv returns the environment variable names, without the
// TRIBUTARY_ prefix, of the settings of every program.
func allProgramsEnv() []string {
	var names []string
	for _, p := range programs() {
		names = append(names, envNames(p.fields())...)
	}
	return names
}

// keyOwner returns the name of a program whose YAML file takes key, or "".
func keyOwner(key string) string {
	for _, p := range programs() {
		for _, s := range p.fields().settings {
			if s.key != "" && s.key == key {
				return p.name
			}
		}
	}
	return ""
}
