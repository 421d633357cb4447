// Package render renders the chart with the Helm SDK the way `helm template` does, for the tests
// and for the generator of deploy/k8s/base.
package render

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// KubeVersion is the Kubernetes version the chart is rendered for: the API server the tests run.
const KubeVersion = "v1.37.2"

// Options say how to render.
type Options struct {
	// ReleaseName and Namespace name the release.
	ReleaseName string
	Namespace   string
	// Values are the user-supplied values, merged over the chart's values.yaml.
	Values map[string]any
	// APIVersions are capabilities beyond the built-in ones, as "group/version/Kind"
	// (e.g. "monitoring.coreos.com/v1/ServiceMonitor").
	APIVersions []string
}

// Document is one YAML document of the rendering.
type Document struct {
	// Source is the template the document came from, e.g. "tributary/templates/nats.yaml".
	Source string
	// YAML is the document without the "---" separator and the "# Source:" line.
	YAML string
}

// Result is a rendering of the chart.
type Result struct {
	// Manifests are the release's objects in Helm's install order.
	Manifests []Document
	// Hooks are the hook objects (the `helm test` pod).
	Hooks []Document
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Chart renders the chart in dir. Schema violations and template failures are errors.
func Chart(dir string, opts Options) (*Result, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("render: load %s: %w", dir, err)
	}
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	inst := action.NewInstall(cfg)
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = opts.ReleaseName
	inst.Namespace = opts.Namespace
	inst.KubeVersion = kv
	inst.APIVersions = common.VersionSet(opts.APIVersions)
	vals := opts.Values
	if vals == nil {
		vals = map[string]any{}
	}
	r, err := inst.Run(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("render: unexpected release type %T", r)
	}
	res := &Result{Manifests: SplitManifest(rel.Manifest), Notes: rel.Info.Notes}
	for _, h := range rel.Hooks {
		for _, d := range SplitManifest(h.Manifest) {
			if d.Source == "" {
				d.Source = h.Path
			}
			res.Hooks = append(res.Hooks, d)
		}
	}
	if len(res.Manifests) == 0 {
		return nil, errors.New("render: no manifests")
	}
	return res, nil
}

var (
	separator  = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine = regexp.MustCompile(`^# Source: (\S+)[ \t]*\n`)
)

// SplitManifest splits a multi-document YAML stream as Helm writes it; documents with no content
// (only comments or white space) are left out.
func SplitManifest(manifest string) []Document {
	var docs []Document
	for _, part := range separator.Split(manifest, -1) {
		part = strings.TrimLeft(part, "\n")
		var d Document
		if m := sourceLine.FindStringSubmatch(part); m != nil {
			d.Source = m[1]
			part = part[len(m[0]):]
		}
		if !hasContent(part) {
			continue
		}
		d.YAML = strings.TrimRight(part, " \t\n") + "\n"
		docs = append(docs, d)
	}
	return docs
}

// hasContent reports whether a YAML document has anything besides comments and white space.
func hasContent(doc string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return true
		}
	}
	return false
}

// Template returns the template file name of a document's source ("nats.yaml").
func (d Document) Template() string {
	return path.Base(d.Source)
}
