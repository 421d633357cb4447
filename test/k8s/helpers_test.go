package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/tributary-media/tributary/test/k8s/internal/render"
)

// repoRoot is the repository's top directory.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var (
	chartDir  = filepath.Join(repoRoot, "charts", "tributary")
	deployDir = filepath.Join(repoRoot, "deploy", "k8s")
)

// scheme knows every kind the chart and deploy/k8s may hold: the built-in API groups and the
// Prometheus Operator's monitoring.coreos.com/v1.
var scheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strictYAML decodes YAML into typed objects and rejects unknown and duplicate fields.
var strictYAML = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// object is a decoded manifest.
type object struct {
	source string // template or file it came from
	gvk    schema.GroupVersionKind
	obj    k8sruntime.Object
	meta   metav1.Object
	yaml   string
}

func (o object) String() string {
	return fmt.Sprintf("%s %s (%s)", o.gvk.Kind, o.meta.GetName(), o.source)
}

// decodeStrict decodes one YAML document into a typed object: an unknown kind, an unknown field,
// a duplicate field or a wrong type is an error.
func decodeStrict(source, doc string) (object, error) {
	obj, gvk, err := strictYAML.Decode([]byte(doc), nil, nil)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", source, err)
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s: %s has no object metadata", source, gvk)
	}
	if m.GetName() == "" {
		return object{}, fmt.Errorf("%s: %s has no name", source, gvk.Kind)
	}
	return object{source: source, gvk: *gvk, obj: obj, meta: m, yaml: doc}, nil
}

// decodeAll decodes documents strictly, failing the test for each that does not decode.
func decodeAll(t *testing.T, docs []render.Document) []object {
	t.Helper()
	var objs []object
	for _, d := range docs {
		o, err := decodeStrict(d.Source, d.YAML)
		if err != nil {
			t.Error(err)
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

// valuesYAML parses a values document written as YAML.
func valuesYAML(t *testing.T, doc string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("values: %v\n%s", err, doc)
	}
	return v
}

// objectsOf returns the objects of type T.
func objectsOf[T k8sruntime.Object](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// find returns the object of type T named name, or fails the test.
func find[T interface {
	k8sruntime.Object
	GetName() string
}](t *testing.T, objs []object, name string) T {
	t.Helper()
	for _, v := range objectsOf[T](objs) {
		if v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q in the rendering", zero, name)
	return zero
}

// lookup returns the object of type T named name, if any.
func lookup[T interface {
	k8sruntime.Object
	GetName() string
}](objs []object, name string) (T, bool) {
	for _, v := range objectsOf[T](objs) {
		if v.GetName() == name {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// envValue returns the literal value of an environment variable of a container.
func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, e.ValueFrom == nil
		}
	}
	return "", false
}

// argValue returns the value of a "-name=value" argument.
func argValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// requireEnv says whether a test that needs an outside resource must run: it skips the test
// when the resource is missing, unless CI is set, where that is a failure.
func requireEnv(t *testing.T, name, why string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set in CI: %s", name, why)
	}
	t.Skipf("%s is not set: %s", name, why)
	return ""
}
