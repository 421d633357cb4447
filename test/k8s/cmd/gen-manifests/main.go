// Command gen-manifests writes deploy/k8s/base from the chart (see scripts/gen-k8s-manifests.sh).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tributary-media/tributary/test/k8s/internal/render"
)

func main() {
	chart := flag.String("chart", "charts/tributary", "the chart directory")
	out := flag.String("out", "deploy/k8s/base", "the directory to write")
	flag.Parse()
	if err := run(*chart, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen-manifests:", err)
		os.Exit(1)
	}
}

// run renders the base files and replaces the YAML files of dir with them.
func run(chart, dir string) error {
	files, err := render.Base(chart)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Files of an earlier rendering that this one no longer has.
	old, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, ok := files[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
		fmt.Println(filepath.Join(dir, name))
	}
	return nil
}
