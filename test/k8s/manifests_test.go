package k8s_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tributary-media/tributary/test/k8s/internal/render"
)

// deployUnit is a set of objects of deploy/k8s that a user applies together: a kustomize
// directory built (kubectl apply -k) or the plain files of one directory (kubectl apply -f).
type deployUnit struct {
	name string // "kustomize:overlays/dev", "files:base"
	objs []object
}

// isKustomization reports whether a file is a kustomize file rather than Kubernetes objects.
func isKustomization(path string) bool {
	switch filepath.Base(path) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// deployUnits reads every YAML file under deploy/k8s: kustomization files are decoded strictly
// as kustomize files and their directories built; every other file is decoded strictly, document
// by document, into typed objects. Problems fail the test.
func deployUnits(t *testing.T) []deployUnit {
	t.Helper()
	files := map[string][]object{} // directory (relative) -> objects of its plain files
	var dirs []string              // directories with plain files, in walk order
	var kustomizeDirs []string
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := filepath.Ext(path)
		if ext != ".yaml" && ext != ".yml" && !isKustomization(path) {
			return nil
		}
		rel, _ := filepath.Rel(deployDir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if isKustomization(path) {
			checkKustomization(t, rel, data)
			kustomizeDirs = append(kustomizeDirs, filepath.Dir(path))
			return nil
		}
		docs := render.SplitManifest(string(data))
		if len(docs) == 0 {
			t.Errorf("%s: no objects", rel)
		}
		for i := range docs {
			docs[i].Source = rel
		}
		dir := filepath.Dir(rel)
		if _, ok := files[dir]; !ok {
			dirs = append(dirs, dir)
		}
		files[dir] = append(files[dir], decodeAll(t, docs)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var units []deployUnit
	for _, dir := range dirs {
		units = append(units, deployUnit{name: "files:" + dir, objs: files[dir]})
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	for _, dir := range kustomizeDirs {
		rel, _ := filepath.Rel(deployDir, dir)
		rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
		if err != nil {
			t.Errorf("kustomize build %s: %v", rel, err)
			continue
		}
		var docs []render.Document
		for _, r := range rm.Resources() {
			y, err := r.AsYAML()
			if err != nil {
				t.Errorf("kustomize build %s: %v", rel, err)
				continue
			}
			docs = append(docs, render.Document{Source: "kustomize build " + rel, YAML: string(y)})
		}
		if len(docs) == 0 {
			t.Errorf("kustomize build %s: no objects", rel)
		}
		units = append(units, deployUnit{name: "kustomize:" + rel, objs: decodeAll(t, docs)})
	}
	return units
}

// checkKustomization decodes a kustomization file strictly: unknown fields are errors.
func checkKustomization(t *testing.T, rel string, data []byte) {
	t.Helper()
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Errorf("%s: %v", rel, err)
		return
	}
	if k.APIVersion != types.KustomizationVersion || k.Kind != types.KustomizationKind {
		t.Errorf("%s: apiVersion %q kind %q, want %s %s", rel, k.APIVersion, k.Kind, types.KustomizationVersion, types.KustomizationKind)
	}
}

// TestDeployManifests decodes every YAML file under deploy/k8s strictly and builds every
// kustomize directory.
func TestDeployManifests(t *testing.T) {
	units := deployUnits(t)
	var names []string
	for _, u := range units {
		names = append(names, u.name)
		for _, o := range u.objs {
			if len(o.meta.GetLabels()) == 0 {
				t.Errorf("%s: %s has no labels", u.name, o)
			}
		}
	}
	for _, want := range []string{"files:base", "kustomize:base", "kustomize:overlays/dev"} {
		if !slices.Contains(names, want) {
			t.Errorf("deploy/k8s has no %s (has %v)", want, names)
		}
	}
	t.Logf("checked %v", names)
}

// TestDeployBaseIsChartRendering fails when deploy/k8s/base is not what
// scripts/gen-k8s-manifests.sh writes from the chart now.
func TestDeployBaseIsChartRendering(t *testing.T) {
	want, err := render.Base(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	baseDir := filepath.Join(deployDir, "base")
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
			continue
		}
		got, err := os.ReadFile(filepath.Join(baseDir, name))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[name]
		switch {
		case !ok:
			stale = append(stale, name+" (not rendered by the chart)")
		case !bytes.Equal(got, w):
			stale = append(stale, name+" (differs: "+firstDifference(string(w), string(got))+")")
		}
		delete(want, name)
	}
	for name := range want {
		stale = append(stale, name+" (missing)")
	}
	if len(stale) > 0 {
		slices.Sort(stale)
		t.Errorf("deploy/k8s/base is not the chart's rendering; run scripts/gen-k8s-manifests.sh:\n  %s", strings.Join(stale, "\n  "))
	}
}

// firstDifference describes the first line where two texts differ.
func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ": want " + strconv.Quote(w) + ", have " + strconv.Quote(g)
		}
	}
	return "same lines"
}

// TestDevOverlay: the dev overlay runs one edge, without anti-affinity, behind a NodePort.
func TestDevOverlay(t *testing.T) {
	var dev, base []object
	for _, u := range deployUnits(t) {
		switch u.name {
		case "kustomize:overlays/dev":
			dev = u.objs
		case "kustomize:base":
			base = u.objs
		}
	}
	if dev == nil || base == nil {
		t.Fatal("no base or dev overlay")
	}
	edge := find[*appsv1.Deployment](t, dev, "tributary-edge")
	if edge.Spec.Replicas == nil || *edge.Spec.Replicas != 1 {
		t.Errorf("dev edge replicas %v, want 1", edge.Spec.Replicas)
	}
	if edge.Spec.Template.Spec.Affinity != nil {
		t.Errorf("dev edge affinity %+v, want none", edge.Spec.Template.Spec.Affinity)
	}
	svc := find[*corev1.Service](t, dev, "tributary-edge")
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("dev edge Service type %s, want NodePort", svc.Spec.Type)
	}
	ctl := find[*appsv1.Deployment](t, dev, "tributary-controller")
	if ctl.Spec.Replicas == nil || *ctl.Spec.Replicas != 1 {
		t.Errorf("dev controller replicas %v, want 1", ctl.Spec.Replicas)
	}
	// Everything else is the base's.
	if len(dev) != len(base) {
		t.Errorf("dev overlay has %d objects, the base %d", len(dev), len(base))
	}
	for _, o := range dev {
		if ns := o.meta.GetNamespace(); o.gvk.Kind != "Namespace" && ns != render.BaseNamespace {
			t.Errorf("dev %s in namespace %q", o, ns)
		}
	}
}
