package k8s_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/tributary-media/tributary/test/k8s/internal/render"
)

// apiServer is a running kube-apiserver with its etcd (envtest) and clients for it.
type apiServer struct {
	kubeconfig string // file, for Helm
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	mapper     meta.RESTMapper
}

// startAPIServer starts kube-apiserver and etcd from KUBEBUILDER_ASSETS (scripts/k8s-bins.sh)
// and returns clients of a system:masters user.
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	requireEnv(t, "KUBEBUILDER_ASSETS", "the API server test needs kube-apiserver and etcd: run scripts/test-k8s.sh, or export KUBEBUILDER_ASSETS=\"$(scripts/k8s-bins.sh)\"")
	env := &envtest.Environment{ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	start := time.Now()
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	t.Logf("API server up in %v", time.Since(start).Round(time.Millisecond))
	// The clients' default rate limit (5 requests a second) would make the test wait, not the server.
	user, err := env.AddUser(envtest.User{Name: "helm-admin", Groups: []string{"system:masters"}}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		t.Fatal(err)
	}
	cfg := user.Config()
	s := &apiServer{kubeconfig: writeKubeconfig(t, cfg)}
	if s.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if s.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return s
}

// writeKubeconfig writes a kubeconfig file for a REST config.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["helm-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "helm-admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// helm returns a Helm action configuration whose objects and release records go to namespace.
func (s *apiServer) helm(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	settings := cli.New()
	settings.KubeConfig = s.kubeconfig
	// Without this the objects go to "default"; the namespace given to Init is only where the
	// release records are kept.
	settings.SetNamespace(namespace)
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(settings.RESTClientGetter(), namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (s *apiServer) createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// create sends one object to the API server with strict field validation; dryRun asks the
// server to validate and default it without storing it.
func (s *apiServer) create(ctx context.Context, o object, namespace, clusterSuffix string, dryRun bool) error {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(o.yaml), &u.Object); err != nil {
		return err
	}
	m, err := s.mapper.RESTMapping(o.gvk.GroupKind(), o.gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		u.SetNamespace(namespace)
		ri = s.dynamic.Resource(m.Resource).Namespace(namespace)
	} else {
		// Cluster-scoped objects (the Namespace) get a name of their own per unit.
		u.SetName(u.GetName() + clusterSuffix)
		ri = s.dynamic.Resource(m.Resource)
	}
	if _, err := ri.Create(ctx, u, opts); err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	return nil
}

// TestAPIServer installs, upgrades and uninstalls the chart on a real API server, sends the
// objects of every value set to it, and creates every object of deploy/k8s there.
func TestAPIServer(t *testing.T) {
	s := startAPIServer(t)
	t.Run("HelmLifecycle", func(t *testing.T) { testHelmLifecycle(t, s) })
	t.Run("ValueSets", func(t *testing.T) { testValueSetsOnServer(t, s) })
	t.Run("Deploy", func(t *testing.T) { testDeployOnServer(t, s) })
	t.Run("EtcdFlags", testEtcdFlags)
}

// testEtcdFlags: every ETCD_* variable of the bundled etcd names a flag of the etcd server the
// API server runs on (the same major release as the chart's image).
func testEtcdFlags(t *testing.T) {
	out, err := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "etcd"), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("etcd --help: %v\n%s", err, out)
	}
	res, _ := renderSet(t, valueSets[0])
	ss := find[*appsv1.StatefulSet](t, decodeAll(t, res.Manifests), fullname+"-etcd")
	n := 0
	for _, e := range ss.Spec.Template.Spec.Containers[0].Env {
		name, ok := strings.CutPrefix(e.Name, "ETCD_")
		if !ok {
			continue
		}
		flag := "--" + strings.ReplaceAll(strings.ToLower(name), "_", "-")
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(flag) + `(\s|$)`).Match(out) {
			t.Errorf("etcd env %s: etcd has no flag %s", e.Name, flag)
		}
		n++
	}
	if n < 10 {
		t.Errorf("only %d ETCD_* variables", n)
	}
}

// testHelmLifecycle: helm install into "media", read back, a bad install the API server
// refuses, upgrade (edges 2 -> 4), uninstall.
func testHelmLifecycle(t *testing.T, s *apiServer) {
	ctx := context.Background()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.helm(t, testNamespace)

	inst := action.NewInstall(cfg)
	inst.ReleaseName = testRelease
	inst.Namespace = testNamespace
	inst.CreateNamespace = true
	inst.WaitStrategy = kube.HookOnlyStrategy
	inst.Timeout = 2 * time.Minute
	r, err := inst.Run(ch, map[string]any{})
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	rel := r.(*release.Release)
	if rel.Info.Status != rcommon.StatusDeployed {
		t.Fatalf("release status %s", rel.Info.Status)
	}

	// Every object of the release is on the server, in the release's namespace.
	objs := decodeAll(t, render.SplitManifest(rel.Manifest))
	for _, o := range objs {
		m, err := s.mapper.RESTMapping(o.gvk.GroupKind(), o.gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if _, err := s.dynamic.Resource(m.Resource).Namespace(testNamespace).Get(ctx, o.meta.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("%s not on the server: %v", o, err)
		}
	}
	t.Logf("install: %d objects on the server", len(objs))

	apps := s.client.AppsV1()
	for name, want := range map[string]int32{fullname + "-edge": 2, fullname + "-controller": 2} {
		d, err := apps.Deployments(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != want {
			t.Errorf("Deployment %s replicas %d, want %d", name, *d.Spec.Replicas, want)
		}
		// Defaulted and stored by the server: the grace period and the probes as rendered.
		if name == fullname+"-edge" && (*d.Spec.Template.Spec.TerminationGracePeriodSeconds != 60 ||
			d.Spec.Template.Spec.Containers[0].Lifecycle.PreStop.Sleep.Seconds != 10) {
			t.Errorf("edge Deployment as stored: grace %d, preStop %+v", *d.Spec.Template.Spec.TerminationGracePeriodSeconds, d.Spec.Template.Spec.Containers[0].Lifecycle.PreStop)
		}
	}
	for _, name := range []string{fullname + "-nats", fullname + "-etcd"} {
		ss, err := apps.StatefulSets(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *ss.Spec.Replicas != 3 || ss.Spec.ServiceName != name+"-headless" {
			t.Errorf("StatefulSet %s: replicas %d, service %s", name, *ss.Spec.Replicas, ss.Spec.ServiceName)
		}
	}
	edgeSvc, err := s.client.CoreV1().Services(testNamespace).Get(ctx, fullname+"-edge", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if edgeSvc.Spec.Type != corev1.ServiceTypeLoadBalancer || edgeSvc.Spec.ClusterIP == "" || edgeSvc.Spec.Ports[0].NodePort == 0 {
		t.Errorf("edge Service as stored: type %s, cluster IP %q, ports %+v", edgeSvc.Spec.Type, edgeSvc.Spec.ClusterIP, edgeSvc.Spec.Ports)
	}
	for _, name := range []string{fullname + "-nats-headless", fullname + "-etcd-headless"} {
		h, err := s.client.CoreV1().Services(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("Service %s cluster IP %q, want None", name, h.Spec.ClusterIP)
		}
	}

	// The test pod (a hook: created by `helm test`, not by install) passes validation.
	for _, h := range decodeAll(t, hooksOf(rel)) {
		if err := s.create(ctx, h, testNamespace, "", true); err != nil {
			t.Errorf("test hook: %v", err)
		}
	}

	// A value the schema cannot judge: node ports are checked against the cluster's range.
	bad := action.NewInstall(cfg)
	bad.ReleaseName = "bad"
	bad.Namespace = testNamespace
	bad.WaitStrategy = kube.HookOnlyStrategy
	bad.Timeout = time.Minute
	_, err = bad.Run(ch, valuesYAML(t, `edge: {service: {nodePorts: {rtmp: 80}}}`))
	if err == nil {
		t.Fatalf("helm install with edge.service.nodePorts.rtmp=80 succeeded; the API server must refuse it")
	}
	if !strings.Contains(err.Error(), "nodePort") || !strings.Contains(err.Error(), "valid range") {
		t.Errorf("install error %q does not say the node port is out of range", err)
	}
	t.Logf("bad install refused: %v", err)
	if st, err := action.NewStatus(cfg).Run("bad"); err != nil {
		t.Errorf("status of the bad release: %v", err)
	} else if got := st.(*release.Release).Info.Status; got != rcommon.StatusFailed {
		t.Errorf("bad release status %s, want failed", got)
	}
	un := action.NewUninstall(cfg)
	un.WaitStrategy = kube.HookOnlyStrategy
	un.Timeout = time.Minute
	if _, err := un.Run("bad"); err != nil {
		t.Errorf("uninstall of the bad release: %v", err)
	}

	// Upgrade: more edges, and NetworkPolicies.
	up := action.NewUpgrade(cfg)
	up.Namespace = testNamespace
	up.WaitStrategy = kube.HookOnlyStrategy
	up.Timeout = 2 * time.Minute
	r, err = up.Run(testRelease, ch, valuesYAML(t, `{edge: {replicas: 4}, networkPolicy: {enabled: true}}`))
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel := r.(*release.Release); rel.Version != 2 || rel.Info.Status != rcommon.StatusDeployed {
		t.Errorf("upgraded release: version %d, status %s", rel.Version, rel.Info.Status)
	}
	d, err := apps.Deployments(testNamespace).Get(ctx, fullname+"-edge", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 4 {
		t.Errorf("edge replicas after the upgrade: %d, want 4", *d.Spec.Replicas)
	}
	nps, err := s.client.NetworkingV1().NetworkPolicies(testNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nps.Items) != 4 {
		t.Errorf("%d NetworkPolicies after the upgrade, want 4", len(nps.Items))
	}

	// Uninstall: the release's objects are gone.
	un = action.NewUninstall(cfg)
	un.WaitStrategy = kube.HookOnlyStrategy
	un.Timeout = 2 * time.Minute
	if _, err := un.Run(testRelease); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + testRelease}
	left := map[string]int{}
	if l, err := apps.Deployments(testNamespace).List(ctx, sel); err == nil {
		left["Deployments"] = len(l.Items)
	}
	if l, err := apps.StatefulSets(testNamespace).List(ctx, sel); err == nil {
		left["StatefulSets"] = len(l.Items)
	}
	if l, err := s.client.CoreV1().Services(testNamespace).List(ctx, sel); err == nil {
		left["Services"] = len(l.Items)
	}
	if l, err := s.client.CoreV1().ConfigMaps(testNamespace).List(ctx, sel); err == nil {
		left["ConfigMaps"] = len(l.Items)
	}
	if l, err := s.client.NetworkingV1().NetworkPolicies(testNamespace).List(ctx, sel); err == nil {
		left["NetworkPolicies"] = len(l.Items)
	}
	if l, err := s.client.PolicyV1().PodDisruptionBudgets(testNamespace).List(ctx, sel); err == nil {
		left["PodDisruptionBudgets"] = len(l.Items)
	}
	for kind, n := range left {
		if n != 0 {
			t.Errorf("%d %s left after uninstall", n, kind)
		}
	}
	if len(left) != 6 {
		t.Errorf("listing after uninstall failed: %v", left)
	}
	if _, err := apps.Deployments(testNamespace).Get(ctx, fullname+"-edge", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("edge Deployment after uninstall: %v", err)
	}
}

// hooksOf returns a release's hook documents.
func hooksOf(rel *release.Release) []render.Document {
	var docs []render.Document
	for _, h := range rel.Hooks {
		docs = append(docs, render.SplitManifest(h.Manifest)...)
	}
	return docs
}

// testValueSetsOnServer sends every object of every value set of the chart tests, hooks
// included, to the API server (server-side dry run, strict field validation), so that its
// validation and admission see each configuration.
func testValueSetsOnServer(t *testing.T, s *apiServer) {
	ctx := context.Background()
	ns := "chart-value-sets"
	s.createNamespace(t, ns)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			res, _ := renderSet(t, vs)
			objs := append(decodeAll(t, res.Manifests), decodeAll(t, res.Hooks)...)
			for _, o := range objs {
				if o.gvk.Group == "monitoring.coreos.com" {
					// No Prometheus Operator CRDs on this server; the strict decoding covers it.
					continue
				}
				if err := s.create(ctx, o, ns, "", true); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// testDeployOnServer creates every object of deploy/k8s, each unit (a kustomize build, the plain
// files of a directory) in a namespace of its own.
func testDeployOnServer(t *testing.T, s *apiServer) {
	ctx := context.Background()
	nonName := regexp.MustCompile(`[^a-z0-9-]+`)
	units := deployUnits(t)
	if t.Failed() {
		t.FailNow()
	}
	for i, u := range units {
		t.Run(u.name, func(t *testing.T) {
			suffix := fmt.Sprintf("-u%d", i)
			ns := strings.Trim(nonName.ReplaceAllString("deploy-"+strings.ToLower(u.name), "-"), "-") + suffix
			s.createNamespace(t, ns)
			// Namespaces first, as kubectl does.
			objs := slices.Clone(u.objs)
			slices.SortStableFunc(objs, func(a, b object) int {
				return boolRank(a.gvk.Kind != "Namespace") - boolRank(b.gvk.Kind != "Namespace")
			})
			for _, o := range objs {
				if err := s.create(ctx, o, ns, suffix, false); err != nil {
					t.Error(err)
				}
			}
			// Read back what the unit's workloads became.
			deps, err := s.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sts, err := s.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d objects created in %s (%d Deployments, %d StatefulSets)", u.name, len(objs), ns, len(deps.Items), len(sts.Items))
			if strings.HasSuffix(u.name, "overlays/dev") {
				for _, d := range deps.Items {
					if d.Name == "tributary-edge" && *d.Spec.Replicas != 1 {
						t.Errorf("dev edge replicas %d as stored", *d.Spec.Replicas)
					}
				}
			}
			checkStoredStatefulSets(t, sts.Items)
		})
	}
}

// checkStoredStatefulSets: the server kept the bundled servers' headless Services' names.
func checkStoredStatefulSets(t *testing.T, sts []appsv1.StatefulSet) {
	t.Helper()
	for _, ss := range sts {
		if ss.Spec.ServiceName == "" || ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
			t.Errorf("StatefulSet %s as stored: service %q, pod management %s", ss.Name, ss.Spec.ServiceName, ss.Spec.PodManagementPolicy)
		}
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
