// Package archtest enforces the import rules of docs/architecture.md
// (section "Packages and what each may import") on the non-test Go files of
// the module.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/tributary-media/tributary"

// allowed maps a package (relative to the module) to the project packages it
// may import. A package not listed may import anything in the project except
// what a rule below forbids; "std" packages may import only the standard
// library besides what is listed.
var allowed = map[string][]string{
	"pkg/rtmp/amf":       {},
	"pkg/rtmp/handshake": {},
	"pkg/rtmp/chunk":     {},
	"pkg/rtmp/flv":       {},
	"pkg/rtmp/message":   {"pkg/rtmp/chunk", "pkg/rtmp/amf"},
	"pkg/rtmp":           {"pkg/rtmp/amf", "pkg/rtmp/handshake", "pkg/rtmp/chunk", "pkg/rtmp/message", "pkg/rtmp/flv"},
	"internal/fanout":    {"pkg/rtmp/flv"},
	"internal/config":    {},
	"internal/telemetry": {},
}

// stdOnly lists package trees whose files may import nothing outside the
// standard library and the project packages allowed above.
var stdOnly = []string{"pkg/rtmp", "internal/fanout"}

func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			ip := strings.Trim(imp.Path.Value, `"`)
			if msg := violation(rel, ip); msg != "" {
				t.Errorf("%s imports %q: %s", filepath.ToSlash(mustRel(root, path)), ip, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no Go files checked")
	}
}

func mustRel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}

func violation(pkg, imp string) string {
	if isStd(imp) {
		return ""
	}
	internalImport := strings.HasPrefix(imp, module+"/")
	target := strings.TrimPrefix(imp, module+"/")
	if list, ok := allowed[pkg]; ok && internalImport {
		for _, a := range list {
			if a == target {
				return ""
			}
		}
		return "not in this package's allowed project imports"
	}
	for _, tree := range stdOnly {
		if pkg == tree || strings.HasPrefix(pkg, tree+"/") {
			if !internalImport {
				return pkg + " must use only the standard library"
			}
		}
	}
	switch {
	case strings.HasPrefix(pkg, "pkg/bus") && internalImport && target != "pkg/rtmp/flv":
		return "pkg/bus may import only pkg/rtmp/flv from the project"
	case strings.HasPrefix(pkg, "pkg/cluster") && internalImport:
		return "pkg/cluster may import nothing from the project"
	case strings.HasPrefix(pkg, "pkg/") && internalImport && strings.HasPrefix(target, "internal/"):
		return "pkg/ must not import internal/"
	}
	return ""
}

func TestViolationRules(t *testing.T) {
	cases := []struct {
		pkg, imp string
		bad      bool
	}{
		{"pkg/rtmp/amf", "fmt", false},
		{"pkg/rtmp/amf", module + "/pkg/rtmp/chunk", true},
		{"pkg/rtmp/message", module + "/pkg/rtmp/chunk", false},
		{"pkg/rtmp/message", module + "/pkg/rtmp/flv", true},
		{"pkg/rtmp", "github.com/nats-io/nats.go", true},
		{"pkg/rtmp/chunk", "golang.org/x/sys/unix", true},
		{"pkg/bus", module + "/pkg/rtmp/flv", false},
		{"pkg/bus", module + "/pkg/cluster", true},
		{"pkg/cluster", module + "/pkg/bus", true},
		{"pkg/cluster", "go.etcd.io/etcd/client/v3", false},
		{"internal/edge", module + "/pkg/bus", false},
	}
	for _, c := range cases {
		if got := violation(c.pkg, c.imp) != ""; got != c.bad {
			t.Errorf("violation(%q, %q) = %v, want %v", c.pkg, c.imp, got, c.bad)
		}
	}
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
}
