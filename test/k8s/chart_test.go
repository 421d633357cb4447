package k8s_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/test/k8s/internal/render"
)

// Release of the chart tests.
const (
	testRelease   = "ingest"
	testNamespace = "media"
	fullname      = "ingest-tributary"
)

// serviceMonitorAPI is the capability the ServiceMonitor template asks for.
const serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"

// valueSet is one configuration of the chart under test.
type valueSet struct {
	name string
	// values is a YAML values document; tls, when set, adds a generated certificate.
	values string
	tls    bool
	// apiVersions are extra cluster capabilities.
	apiVersions []string
}

// valueSets are the configurations every wiring check runs on; the API server test installs
// each of them too.
var valueSets = []valueSet{
	{name: "defaults"},
	{name: "external", values: `
nats:
  bundled: {enabled: false}
  external: {urls: ["nats://nats-a.messaging:4222", "nats://nats-b.messaging:4222"]}
etcd:
  bundled: {enabled: false}
  external: {endpoints: ["etcd-0.state:2379", "etcd-1.state:2379", "etcd-2.state:2379"]}
`},
	{name: "external-nats-secret", values: `
nats:
  bundled: {enabled: false}
  external: {existingSecret: nats-credentials, existingSecretKey: urls}
`},
	{name: "tls", tls: true, values: `
edge:
  service: {type: NodePort, externalTrafficPolicy: Local, nodePorts: {rtmp: 31935, rtmps: 31936}}
`},
	{name: "tls-existing-secret", values: `
tls: {enabled: true, existingSecret: edge-certificate}
`},
	{name: "autoscaling", values: `
edge:
  autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 12, targetCPUUtilizationPercentage: 60}
`},
	{name: "servicemonitor", apiVersions: []string{serviceMonitorAPI}, values: `
metrics:
  serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}
`},
	{name: "servicemonitor-without-crd", values: `
metrics:
  serviceMonitor: {enabled: true}
`},
	{name: "networkpolicy", tls: true, values: `
networkPolicy:
  enabled: true
  adminFrom:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}
  metricsFrom:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
  natsClientsFrom:
    - podSelector: {matchLabels: {app: recorder}}
`},
	{name: "small", values: `
edge: {replicas: 1, antiAffinity: none, drainTimeoutSeconds: 120, preStopSleepSeconds: 0}
controller: {replicas: 1, antiAffinity: hard, pdb: {enabled: false}}
nats: {bundled: {replicas: 1, pdb: {enabled: false}}}
etcd: {bundled: {replicas: 1, persistence: {enabled: false}, pdb: {enabled: false}}}
dashboards: {enabled: false}
helmTest: {enabled: false}
serviceAccount: {create: false}
`},
	{name: "limits", values: `
edge:
  limits:
    maxConns: 2000
    maxConnsPerIP: 20
    maxPublishers: 50
    maxPlayersPerStream: 400
    maxPublishBitrate: 8Mbps
    handshakeTimeout: 5s
    connectTimeout: 8s
    idleTimeout: 0s
`},
	{name: "limits-numeric-bitrate", values: `
edge:
  limits: {maxConns: 0, maxPublishBitrate: 6000000, idleTimeout: 2m}
`},
	{name: "auth", tls: true, values: `
edge:
  authSecret: stream-keys
  auth:
    default:
      publish: {deny: true}
      play: {webhook: {url: "http://auth.media:9000/play", timeout: 1s, cache_ttl: 10s, headers: {X-Source: tributary}}}
    apps:
      live:
        publish:
          require: any
          keys: [k-4f9a0c2e7d1b0a3c, {key: k-8e2d5a7c9f3b1d6e, stream: alice}]
          keys_file: /etc/tributary/auth/publish-keys
          token: {secrets_file: /etc/tributary/auth/publish-secrets, skew: 10s, max_validity: 24h}
        play:
          token: {secrets_file: /etc/tributary/auth/play-secrets}
      "my.app":
        play: {deny: true}
`},
	{name: "admin-token", values: `
adminToken: {existingSecret: tributary-admin, existingSecretKey: api-token}
`},
	{name: "external-secured", values: `
adminToken: {existingSecret: tributary-admin}
nats:
  bundled: {enabled: false}
  external:
    urls: ["tls://nats-a.messaging:4222", "tls://nats-b.messaging:4222"]
    user: tributary
    passwordSecret: {name: nats-login, key: pass}
    filesSecret: nats-client-tls
    tls: {ca: ca.crt, cert: tls.crt, key: tls.key, serverName: nats.messaging}
etcd:
  bundled: {enabled: false}
  external:
    endpoints: ["https://etcd-0.state:2379", "https://etcd-1.state:2379"]
    user: tributary
    passwordSecret: {name: etcd-login, key: password}
    filesSecret: etcd-client-tls
    tls: {ca: ca.crt}
`},
	{name: "external-nkey-client-cert", values: `
nats:
  bundled: {enabled: false}
  external:
    urls: ["nats://nats.messaging:4222"]
    filesSecret: nats-nkey
    nkeyFile: edge.nk
etcd:
  bundled: {enabled: false}
  external:
    endpoints: ["etcd-0.state:2379"]
    filesSecret: etcd-client-tls
    tls: {ca: ca.crt, cert: tls.crt, key: tls.key}
`},
	{name: "external-nats-token", values: `
nats:
  bundled: {enabled: false}
  external:
    existingSecret: nats-credentials
    existingSecretKey: urls
    tokenSecret: {name: nats-token, key: token}
`},
	{name: "everything", tls: true, apiVersions: []string{serviceMonitorAPI}, values: `
image: {registry: registry.example.com/media, tag: "1.2.3", pullPolicy: Always}
imagePullSecrets: [{name: registry-login}]
busPrefix: acme_live
cluster: {leaseTTL: 8s, reconnectGrace: 20s}
log: {level: debug, format: text}
otel:
  endpoint: http://jaeger-collector.observability:4317
  resourceAttributes: {deployment.environment: staging}
edge:
  replicas: 3
  antiAffinity: hard
  publishPolicy: takeover
  gopCache: 16MiB
  playerQueue: 32MiB
  playerMaxLag: 15s
  limits: {maxConns: 5000}
  drainTimeoutSeconds: 45
  extraConfig: {player_max_lag: 20s}
  extraEnv: [{name: GOMAXPROCS, value: "2"}]
  service:
    externalTrafficPolicy: Local
    annotations: {service.beta.kubernetes.io/aws-load-balancer-type: nlb}
    loadBalancerSourceRanges: [203.0.113.0/24]
  autoscaling: {enabled: true}
controller:
  replicas: 3
  reapGrace: 10s
  service: {port: 9090}
etcd:
  bundled:
    replicas: 5
    persistence: {storageClass: fast-ssd, size: 5Gi}
nats:
  bundled: {replicas: 5, lameDuckSeconds: 45}
metrics:
  serviceMonitor: {enabled: true}
networkPolicy: {enabled: true}
`},
}

// renderSet renders the chart with a value set as release testRelease in testNamespace.
func renderSet(t *testing.T, vs valueSet) (*render.Result, map[string]any) {
	t.Helper()
	vals := valuesYAML(t, vs.values)
	if vs.tls {
		cert, key := selfSignedPEM(t)
		vals["tls"] = map[string]any{"enabled": true, "cert": cert, "key": key}
	}
	res, err := render.Chart(chartDir, render.Options{
		ReleaseName: testRelease, Namespace: testNamespace, Values: vals, APIVersions: vs.apiVersions,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, vals
}

// TestChartValueSets renders every value set, decodes every manifest strictly and checks how
// the objects fit together.
func TestChartValueSets(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			res, _ := renderSet(t, vs)
			objs := decodeAll(t, res.Manifests)
			hooks := decodeAll(t, res.Hooks)
			if t.Failed() {
				return
			}
			c := &chartCheck{t: t, vs: vs, objs: objs, hooks: hooks, all: append(slices.Clone(objs), hooks...)}
			c.run()
			if !strings.Contains(res.Notes, "rtmp://") || !strings.Contains(res.Notes, ".stream.live.test.media") {
				t.Errorf("NOTES.txt does not show the RTMP URL and the bus subject:\n%s", res.Notes)
			}
			if tokenSet := strings.Contains(vs.values, "adminToken:"); tokenSet != strings.Contains(res.Notes, "Authorization: Bearer") ||
				tokenSet == strings.Contains(res.Notes, "is open to whoever reaches it") {
				t.Errorf("NOTES.txt does not say how the admin API is reached (token set: %v):\n%s", tokenSet, res.Notes)
			}
		})
	}
}

// chartCheck checks one rendering.
type chartCheck struct {
	t     *testing.T
	vs    valueSet
	objs  []object // the release's objects
	hooks []object // the hooks
	all   []object
	// inPod maps the temporary directories programConfig gives the programs for mounted Secrets
	// back to the directories in the pod.
	inPod map[string]string
}

// workload is something that makes pods.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector // nil for a bare Pod
	template   corev1.PodTemplateSpec
	claims     []string // a StatefulSet's volume claim templates
}

func (c *chartCheck) workloads() []workload {
	var ws []workload
	for _, d := range objectsOf[*appsv1.Deployment](c.all) {
		ws = append(ws, workload{"Deployment", d.Name, d.Spec.Selector, d.Spec.Template, nil})
	}
	for _, s := range objectsOf[*appsv1.StatefulSet](c.all) {
		var claims []string
		for _, vc := range s.Spec.VolumeClaimTemplates {
			claims = append(claims, vc.Name)
		}
		ws = append(ws, workload{"StatefulSet", s.Name, s.Spec.Selector, s.Spec.Template, claims})
	}
	for _, p := range objectsOf[*corev1.Pod](c.all) {
		ws = append(ws, workload{"Pod", p.Name, nil, corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}, nil})
	}
	return ws
}

func (c *chartCheck) run() {
	c.checkNamesAndLabels()
	c.checkWorkloads()
	c.checkServices()
	c.checkReferences()
	c.checkPDBs()
	c.checkHPA()
	c.checkNetworkPolicies()
	c.checkServiceMonitor()
	c.checkEdge()
	c.checkController()
	c.checkNATS()
	c.checkEtcd()
	c.checkHelmTest()
	c.checkDashboard()
}

// has reports whether the value set enables a feature, by the rendered objects.
func (c *chartCheck) bundled(component string) bool {
	_, ok := lookup[*appsv1.StatefulSet](c.objs, fullname+"-"+component)
	return ok
}

func (c *chartCheck) checkNamesAndLabels() {
	t := c.t
	seen := map[string]bool{}
	for _, o := range c.all {
		key := o.gvk.Kind + "/" + o.meta.GetName()
		if seen[key] {
			t.Errorf("%s rendered twice", key)
		}
		seen[key] = true
		if o.meta.GetNamespace() != "" {
			t.Errorf("%s sets metadata.namespace %q: the release's namespace is Helm's to give", o, o.meta.GetNamespace())
		}
		if n := o.meta.GetName(); len(n) > 63 {
			t.Errorf("%s: name longer than 63 characters", o)
		}
		l := o.meta.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
			"app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s: no label %s", o, k)
			}
		}
		if l["app.kubernetes.io/instance"] != testRelease || l["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: labels %v", o, l)
		}
	}
}

// checkWorkloads: selectors select their own pods, and every container is locked down.
func (c *chartCheck) checkWorkloads() {
	t := c.t
	ws := c.workloads()
	for _, w := range ws {
		id := w.kind + " " + w.name
		if w.selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil || sel.Empty() {
				t.Errorf("%s: bad selector %v: %v", id, w.selector, err)
			} else if !sel.Matches(labels.Set(w.template.Labels)) {
				t.Errorf("%s: selector %v does not match its pod labels %v", id, w.selector, w.template.Labels)
			}
			// No two workloads select each other's pods.
			for _, o := range ws {
				if o.name != w.name && o.selector != nil && sel.Matches(labels.Set(o.template.Labels)) {
					t.Errorf("%s: selector also matches the pods of %s %s", id, o.kind, o.name)
				}
			}
		}
		spec := w.template.Spec
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod does not run as non-root: %+v", id, psc)
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: no RuntimeDefault seccomp profile", id)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not need", id)
		}
		for _, ctr := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			cid := id + " container " + ctr.Name
			sc := ctr.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: root filesystem is not read-only", cid)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: privilege escalation allowed", cid)
			}
			if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities not dropped: %+v", cid, sc)
			}
			if sc != nil && sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", cid)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: no CPU and memory requests", cid)
			}
			if ctr.Image == "" || strings.HasSuffix(ctr.Image, ":") {
				t.Errorf("%s: image %q", cid, ctr.Image)
			}
			for _, p := range []*corev1.Probe{ctr.LivenessProbe, ctr.ReadinessProbe, ctr.StartupProbe} {
				if p != nil && p.HTTPGet != nil && !hasPort(ctr, p.HTTPGet.Port) {
					t.Errorf("%s: probe port %s is not a container port", cid, p.HTTPGet.Port.String())
				}
			}
			for _, m := range ctr.VolumeMounts {
				if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) && !slices.Contains(w.claims, m.Name) {
					t.Errorf("%s: mounts volume %q the pod does not have", cid, m.Name)
				}
			}
		}
	}
}

// hasPort reports whether a container has the port, by name or number.
func hasPort(c corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return true
		}
	}
	return false
}

// selected returns the workloads whose pods a label selector matches.
func (c *chartCheck) selected(sel labels.Selector) []workload {
	var out []workload
	for _, w := range c.workloads() {
		if w.kind != "Pod" && sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// checkServices: each Service selects a workload whose containers have every target port.
func (c *chartCheck) checkServices() {
	t := c.t
	for _, s := range objectsOf[*corev1.Service](c.objs) {
		if len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s: no selector", s.Name)
			continue
		}
		ws := c.selected(labels.SelectorFromSet(s.Spec.Selector))
		if len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(ws))
			continue
		}
		for _, p := range s.Spec.Ports {
			tp := p.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(p.Port)
			}
			if !slices.ContainsFunc(ws[0].template.Spec.Containers, func(ctr corev1.Container) bool { return hasPort(ctr, tp) }) {
				t.Errorf("Service %s port %s: target port %s is not a port of %s %s", s.Name, p.Name, tp.String(), ws[0].kind, ws[0].name)
			}
		}
	}
	for _, ss := range objectsOf[*appsv1.StatefulSet](c.objs) {
		h, ok := lookup[*corev1.Service](c.objs, ss.Spec.ServiceName)
		if !ok {
			t.Errorf("StatefulSet %s: serviceName %q is not rendered", ss.Name, ss.Spec.ServiceName)
			continue
		}
		if h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
			t.Errorf("StatefulSet %s: Service %s is not headless with not-ready addresses published", ss.Name, h.Name)
		}
		if !labels.SelectorFromSet(h.Spec.Selector).Matches(labels.Set(ss.Spec.Template.Labels)) {
			t.Errorf("StatefulSet %s: headless Service %s does not select its pods", ss.Name, h.Name)
		}
	}
}

// checkReferences: ConfigMaps, Secrets and ServiceAccounts the pods use are rendered, or are the
// ones the value set names as provided by the user.
func (c *chartCheck) checkReferences() {
	t := c.t
	external := map[string]bool{}
	for _, name := range []string{
		"edge-certificate", "nats-credentials", "stream-keys", "tributary-admin", "nats-login", "nats-token",
		"nats-client-tls", "nats-nkey", "etcd-login", "etcd-client-tls",
	} {
		external[name] = true
	}
	for _, w := range c.workloads() {
		spec := w.template.Spec
		for _, v := range spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				cm, ok := lookup[*corev1.ConfigMap](c.objs, v.ConfigMap.Name)
				if !ok {
					t.Errorf("%s %s: volume %s: ConfigMap %s not rendered", w.kind, w.name, v.Name, v.ConfigMap.Name)
					continue
				}
				for _, it := range v.ConfigMap.Items {
					if _, ok := cm.Data[it.Key]; !ok {
						t.Errorf("%s %s: ConfigMap %s has no key %s", w.kind, w.name, cm.Name, it.Key)
					}
				}
			case v.Secret != nil:
				if _, ok := lookup[*corev1.Secret](c.objs, v.Secret.SecretName); !ok && !external[v.Secret.SecretName] {
					t.Errorf("%s %s: Secret %s not rendered", w.kind, w.name, v.Secret.SecretName)
				}
			}
		}
		for _, ctr := range spec.Containers {
			for _, e := range ctr.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !external[e.ValueFrom.SecretKeyRef.Name] {
					t.Errorf("%s %s: env %s from Secret %s, not rendered", w.kind, w.name, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
		if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
			if _, ok := lookup[*corev1.ServiceAccount](c.objs, sa); !ok {
				t.Errorf("%s %s: ServiceAccount %s not rendered", w.kind, w.name, sa)
			}
		}
	}
}

func (c *chartCheck) checkPDBs() {
	t := c.t
	for _, p := range objectsOf[*policyv1.PodDisruptionBudget](c.objs) {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			t.Errorf("PodDisruptionBudget %s: %v", p.Name, err)
			continue
		}
		if ws := c.selected(sel); len(ws) != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d workloads, want 1", p.Name, len(ws))
		}
		if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
			t.Errorf("PodDisruptionBudget %s: want exactly one of maxUnavailable and minAvailable", p.Name)
		}
	}
}

func (c *chartCheck) checkHPA() {
	t := c.t
	hpas := objectsOf[*autoscalingv2.HorizontalPodAutoscaler](c.objs)
	edge := find[*appsv1.Deployment](t, c.objs, fullname+"-edge")
	switch {
	case len(hpas) == 0:
		if edge.Spec.Replicas == nil {
			t.Errorf("edge Deployment has no replicas and no autoscaler")
		}
		return
	case len(hpas) > 1:
		t.Errorf("%d autoscalers", len(hpas))
	}
	h := hpas[0]
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != edge.Name {
		t.Errorf("HorizontalPodAutoscaler %s scales %+v, want the edge Deployment", h.Name, ref)
	}
	if edge.Spec.Replicas != nil {
		t.Errorf("edge Deployment sets replicas while an autoscaler scales it")
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		t.Errorf("HorizontalPodAutoscaler %s: min %v, max %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Errorf("HorizontalPodAutoscaler %s: metrics %+v", h.Name, h.Spec.Metrics)
	}
	if h.Spec.Behavior == nil || h.Spec.Behavior.ScaleDown == nil {
		t.Errorf("HorizontalPodAutoscaler %s: no scale-down behavior", h.Name)
	}
}

// checkNetworkPolicies: each policy selects a workload whose containers have its named ports;
// RTMP stays open to everyone.
func (c *chartCheck) checkNetworkPolicies() {
	t := c.t
	nps := objectsOf[*networkingv1.NetworkPolicy](c.objs)
	enabled := strings.Contains(c.vs.values, "networkPolicy")
	if !enabled {
		if len(nps) > 0 {
			t.Errorf("NetworkPolicies rendered while disabled")
		}
		return
	}
	want := []string{fullname + "-edge", fullname + "-controller"}
	if c.bundled("nats") {
		want = append(want, fullname+"-nats")
	}
	if c.bundled("etcd") {
		want = append(want, fullname+"-etcd")
	}
	var got []string
	for _, np := range nps {
		got = append(got, np.Name)
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || sel.Empty() {
			t.Errorf("NetworkPolicy %s: pod selector %v: %v", np.Name, np.Spec.PodSelector, err)
			continue
		}
		ws := c.selected(sel)
		if len(ws) != 1 {
			t.Errorf("NetworkPolicy %s selects %d workloads, want 1", np.Name, len(ws))
			continue
		}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port == nil || !slices.ContainsFunc(ws[0].template.Spec.Containers, func(ctr corev1.Container) bool { return hasPort(ctr, *p.Port) }) {
					t.Errorf("NetworkPolicy %s: port %v is not a port of %s", np.Name, p.Port, ws[0].name)
				}
			}
			for _, peer := range rule.From {
				if peer.PodSelector != nil {
					if _, err := metav1.LabelSelectorAsSelector(peer.PodSelector); err != nil {
						t.Errorf("NetworkPolicy %s: peer %v: %v", np.Name, peer, err)
					}
				}
			}
		}
		if np.Name == fullname+"-edge" {
			open := false
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 && slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.String() == "rtmp" }) {
					open = true
				}
			}
			if !open {
				t.Errorf("NetworkPolicy %s does not leave RTMP open", np.Name)
			}
		}
		// Bundled servers accept clients from the edges and the controllers.
		if np.Name == fullname+"-nats" || np.Name == fullname+"-etcd" {
			for _, client := range []string{"edge", "controller"} {
				d := find[*appsv1.Deployment](t, c.objs, fullname+"-"+client)
				if !allowsFrom(np, d.Spec.Template.Labels, "client") {
					t.Errorf("NetworkPolicy %s does not let the %s pods reach the client port", np.Name, client)
				}
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("NetworkPolicies %v, want %v", got, want)
	}
}

// allowsFrom reports whether a NetworkPolicy admits pods with the labels (same namespace) to a
// named port.
func allowsFrom(np *networkingv1.NetworkPolicy, podLabels map[string]string, port string) bool {
	for _, rule := range np.Spec.Ingress {
		if !slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.String() == port }) {
			continue
		}
		if len(rule.From) == 0 {
			return true
		}
		for _, peer := range rule.From {
			if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
			if err == nil && sel.Matches(labels.Set(podLabels)) {
				return true
			}
		}
	}
	return false
}

// checkServiceMonitor: rendered only with the capability, and it scrapes the edges' and the
// controllers' http ports.
func (c *chartCheck) checkServiceMonitor() {
	t := c.t
	sms := objectsOf[*monitoringv1.ServiceMonitor](c.objs)
	wantSM := strings.Contains(c.vs.values, "serviceMonitor: {enabled: true") && slices.Contains(c.vs.apiVersions, serviceMonitorAPI)
	if !wantSM {
		if len(sms) > 0 {
			t.Errorf("ServiceMonitor rendered without being enabled or without the CRD")
		}
		return
	}
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sms))
	}
	sm := sms[0]
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatalf("ServiceMonitor selector: %v", err)
	}
	scraped := map[string]bool{}
	for _, s := range objectsOf[*corev1.Service](c.objs) {
		if !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			for _, p := range s.Spec.Ports {
				if p.Name == ep.Port {
					scraped[s.Name] = true
				}
			}
		}
	}
	for _, name := range []string{fullname + "-edge-metrics", fullname + "-controller"} {
		if !scraped[name] {
			t.Errorf("ServiceMonitor does not scrape Service %s (scrapes %v)", name, scraped)
		}
	}
	if len(scraped) != 2 {
		t.Errorf("ServiceMonitor scrapes %v, want the edge-metrics and controller Services only", scraped)
	}
	for _, ep := range sm.Spec.Endpoints {
		if ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint path %q", ep.Path)
		}
	}
}

// container returns the one container of a pod template, failing the test otherwise.
func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, ctr := range spec.Containers {
		if ctr.Name == name {
			return ctr
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// secretEnv are the variables the chart gives from Secrets, with the placeholder each gets for
// the programs' loaders.
var secretEnv = map[string]string{
	"TRIBUTARY_NATS_URL":      "nats://from-secret-a:4222,nats://from-secret-b:4222",
	"TRIBUTARY_NATS_PASSWORD": "nats-password-from-secret",
	"TRIBUTARY_NATS_TOKEN":    "nats-token-from-secret",
	"TRIBUTARY_ETCD_PASSWORD": "etcd-password-from-secret",
	"TRIBUTARY_ADMIN_TOKEN":   "admin-token-from-secret-0123456789",
}

// programConfig returns a container's command line and environment for the program's own
// configuration loader: -config points at a temporary copy of the mounted ConfigMap key,
// variables from Secrets get placeholder values, and the files the configuration names in
// mounted Secrets are placeholder files in temporary directories (c.podPath maps them back).
func (c *chartCheck) programConfig(spec corev1.PodSpec, ctr corev1.Container) (args, environ []string) {
	t := c.t
	t.Helper()
	path := mustArg(t, ctr.Args, "config")
	data := c.mountedFile(spec, ctr, path)
	var dirs []string
	for _, m := range ctr.VolumeMounts {
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name && v.Secret != nil }) {
			continue
		}
		if m.SubPath != "" || !m.ReadOnly {
			t.Errorf("container %s: Secret volume %s mounted with subPath %q, readOnly %v: want the whole Secret, read-only (renewed files must reach the pod)",
				ctr.Name, m.Name, m.SubPath, m.ReadOnly)
		}
		dir := filepath.Join(t.TempDir(), m.Name)
		if c.inPod == nil {
			c.inPod = map[string]string{}
		}
		c.inPod[dir] = strings.TrimSuffix(m.MountPath, "/")
		data = strings.ReplaceAll(data, strings.TrimSuffix(m.MountPath, "/")+"/", dir+"/")
		dirs = append(dirs, dir)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatalf("container %s: configuration: %v", ctr.Name, err)
	}
	walkStrings(doc, func(v string) {
		for _, dir := range dirs {
			if strings.HasPrefix(v, dir+"/") {
				if err := os.MkdirAll(filepath.Dir(v), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(v, []byte("placeholder\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	file := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, a := range ctr.Args {
		if strings.HasPrefix(a, "-config=") {
			a = "-config=" + file
		}
		args = append(args, a)
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case secretEnv[e.Name] != "" && e.ValueFrom.SecretKeyRef != nil:
			environ = append(environ, e.Name+"="+secretEnv[e.Name])
		case strings.HasPrefix(e.Name, "TRIBUTARY_"):
			t.Errorf("container %s: %s has a value source the test does not know: %+v", ctr.Name, e.Name, e.ValueFrom)
		}
	}
	return args, environ
}

// walkStrings calls f with every string in a decoded YAML document.
func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case map[string]any:
		for _, x := range v {
			walkStrings(x, f)
		}
	case []any:
		for _, x := range v {
			walkStrings(x, f)
		}
	}
}

// podPath maps a file name in a configuration loaded by programConfig back to its name in the
// pod.
func (c *chartCheck) podPath(file string) string {
	for dir, mount := range c.inPod {
		if rest, ok := strings.CutPrefix(file, dir+"/"); ok {
			return mount + "/" + rest
		}
	}
	return file
}

// mountedFile returns the content of the file at path in a container, from the ConfigMap
// volume mounted over it.
func (c *chartCheck) mountedFile(spec corev1.PodSpec, ctr corev1.Container, file string) string {
	t := c.t
	t.Helper()
	for _, m := range ctr.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := find[*corev1.ConfigMap](t, c.objs, v.ConfigMap.Name)
			key := rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if len(v.ConfigMap.Items) > 0 && key == rel && !slices.ContainsFunc(v.ConfigMap.Items, func(it corev1.KeyToPath) bool { return it.Key == rel && it.Path == rel }) {
				t.Fatalf("container %s: %s is not among the items of ConfigMap %s", ctr.Name, file, cm.Name)
			}
			data, ok := cm.Data[key]
			if !ok {
				t.Fatalf("container %s: ConfigMap %s has no key %s for %s", ctr.Name, cm.Name, key, file)
			}
			return data
		}
	}
	t.Fatalf("container %s: no ConfigMap mounted at %s", ctr.Name, file)
	return ""
}

// mustArg returns the value of a "-name=value" argument, or fails the test.
func mustArg(t *testing.T, args []string, name string) string {
	t.Helper()
	v, ok := argValue(args, name)
	if !ok {
		t.Fatalf("no -%s in %q", name, args)
	}
	return v
}

// portOf returns the port of a listen address (":8080" -> 8080).
func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

// containerPort returns the number of a named container port.
func containerPort(t *testing.T, ctr corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range ctr.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", ctr.Name, name)
	return 0
}

// checkProbes: liveness (and startup) on /healthz, readiness on /readyz, all on the http port.
func checkProbes(t *testing.T, ctr corev1.Container) {
	t.Helper()
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", ctr.LivenessProbe, "/healthz"}, {"readiness", ctr.ReadinessProbe, "/readyz"}, {"startup", ctr.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("container %s: no HTTP %s probe", ctr.Name, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("container %s: %s probe on %s port %s, want %s on http", ctr.Name, p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
}

// checkOTel: the standard OTel variables, with the pod's identity from the downward API.
func (c *chartCheck) checkOTel(ctr corev1.Container, service string) {
	t := c.t
	t.Helper()
	defined := map[string]string{}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			defined[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
		if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
			for _, attr := range []string{"k8s.pod.name=$(POD_NAME)", "k8s.namespace.name=$(POD_NAMESPACE)"} {
				if !slices.Contains(strings.Split(e.Value, ","), attr) {
					t.Errorf("container %s: OTEL_RESOURCE_ATTRIBUTES %q lacks %s", ctr.Name, e.Value, attr)
				}
			}
			// $(VAR) refers only to variables defined before it.
			if defined["POD_NAME"] != "metadata.name" || defined["POD_NAMESPACE"] != "metadata.namespace" {
				t.Errorf("container %s: POD_NAME and POD_NAMESPACE are not defined from the downward API before OTEL_RESOURCE_ATTRIBUTES", ctr.Name)
			}
		}
	}
	if v, _ := envValue(ctr, "OTEL_SERVICE_NAME"); v != service {
		t.Errorf("container %s: OTEL_SERVICE_NAME %q, want %q", ctr.Name, v, service)
	}
	endpoint, set := envValue(ctr, "OTEL_EXPORTER_OTLP_ENDPOINT")
	want := ""
	if strings.Contains(c.vs.values, "otel:") {
		want = "http://jaeger-collector.observability:4317"
	}
	if endpoint != want || set != (want != "") {
		t.Errorf("container %s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want %q", ctr.Name, endpoint, want)
	}
}

// checkBackends: the programs' NATS URLs and etcd endpoints are the bundled Services or the
// external values.
func (c *chartCheck) checkBackends(who string, natsURLs, etcdEndpoints []string) {
	t := c.t
	t.Helper()
	vals := valuesYAML(t, c.vs.values)
	switch {
	case c.bundled("nats"):
		svc := fullname + "-nats"
		if !slices.Equal(natsURLs, []string{"nats://" + svc + ":4222"}) {
			t.Errorf("%s: NATS URLs %v, want the bundled Service %s", who, natsURLs, svc)
		}
		s := find[*corev1.Service](t, c.objs, svc)
		ss := find[*appsv1.StatefulSet](t, c.objs, svc)
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(ss.Spec.Template.Labels)) ||
			!slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 4222 }) {
			t.Errorf("%s: Service %s does not lead to the NATS StatefulSet on port 4222", who, svc)
		}
	case strings.Contains(c.vs.values, "existingSecret: nats-credentials"):
		if !slices.Equal(natsURLs, []string{"nats://from-secret-a:4222", "nats://from-secret-b:4222"}) {
			t.Errorf("%s: NATS URLs %v, want the ones from the Secret", who, natsURLs)
		}
	default:
		want := toStrings(vals["nats"].(map[string]any)["external"].(map[string]any)["urls"])
		if !slices.Equal(natsURLs, want) {
			t.Errorf("%s: NATS URLs %v, want %v", who, natsURLs, want)
		}
	}
	if c.bundled("etcd") {
		sts := find[*appsv1.StatefulSet](t, c.objs, fullname+"-etcd")
		headless := find[*corev1.Service](t, c.objs, sts.Spec.ServiceName)
		var want []string
		for i := range *sts.Spec.Replicas {
			want = append(want, fmt.Sprintf("%s-%d.%s:2379", sts.Name, i, headless.Name))
		}
		if !slices.Equal(etcdEndpoints, want) {
			t.Errorf("%s: etcd endpoints %v, want every member %v", who, etcdEndpoints, want)
		}
		if !slices.ContainsFunc(headless.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 2379 }) {
			t.Errorf("headless Service %s has no port 2379", headless.Name)
		}
	} else {
		want := toStrings(vals["etcd"].(map[string]any)["external"].(map[string]any)["endpoints"])
		if !slices.Equal(etcdEndpoints, want) {
			t.Errorf("%s: etcd endpoints %v, want %v", who, etcdEndpoints, want)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// checkEdge loads the edge's configuration with the program's own loader and checks it against
// the Deployment and its Services.
func (c *chartCheck) checkEdge() {
	t := c.t
	d := find[*appsv1.Deployment](t, c.objs, fullname+"-edge")
	spec := d.Spec.Template.Spec
	ctr := container(t, spec, "edge")
	if !slices.Equal(ctr.Command, []string{"/usr/local/bin/tributary-edge"}) {
		t.Errorf("edge command %v", ctr.Command)
	}
	args, environ := c.programConfig(spec, ctr)
	cfg, err := config.LoadEdge("edge", args, environ, io.Discard)
	if err != nil {
		t.Fatalf("the edge rejects its configuration: %v\nargs %q\nenv %q", err, args, environ)
	}
	c.checkBackends("edge", cfg.NATSURLs(), cfg.EtcdEndpointList())
	if file := c.mountedFile(spec, ctr, mustArg(t, ctr.Args, "config")); strings.HasPrefix(file, "id:") || strings.Contains(file, "\nid:") {
		t.Errorf("edge configuration sets an id: every edge must take its pod's host name")
	}
	if portOf(t, cfg.RTMPAddr) != containerPort(t, ctr, "rtmp") || containerPort(t, ctr, "rtmp") != 1935 {
		t.Errorf("edge rtmp_addr %s is not the container port rtmp", cfg.RTMPAddr)
	}
	if portOf(t, cfg.HTTPAddr) != containerPort(t, ctr, "http") {
		t.Errorf("edge http_addr %s is not the container port http", cfg.HTTPAddr)
	}
	checkProbes(t, ctr)
	c.checkOTel(ctr, "tributary-edge")

	// Shutdown: the grace period covers the preStop sleep, the drain and a margin.
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("edge has no preStop sleep")
	}
	sleep := time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if grace < sleep+cfg.DrainTimeout+10*time.Second {
		t.Errorf("edge terminationGracePeriodSeconds %v does not cover the preStop sleep %v + drain timeout %v + 10s for the bus drain and the lease revoke",
			grace, sleep, cfg.DrainTimeout)
	}

	// The public Service.
	svc := find[*corev1.Service](t, c.objs, fullname+"-edge")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service %s does not select the edges", svc.Name)
	}
	wantType := corev1.ServiceTypeLoadBalancer
	if strings.Contains(c.vs.values, "type: NodePort") {
		wantType = corev1.ServiceTypeNodePort
	}
	if svc.Spec.Type != wantType {
		t.Errorf("Service %s type %s, want %s", svc.Name, svc.Spec.Type, wantType)
	}
	wantPolicy := corev1.ServiceExternalTrafficPolicyCluster
	if strings.Contains(c.vs.values, "externalTrafficPolicy: Local") {
		wantPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if svc.Spec.ExternalTrafficPolicy != wantPolicy {
		t.Errorf("Service %s externalTrafficPolicy %q, want %q", svc.Name, svc.Spec.ExternalTrafficPolicy, wantPolicy)
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
		if p.Protocol != corev1.ProtocolTCP || p.TargetPort.String() != p.Name {
			t.Errorf("Service %s port %+v", svc.Name, p)
		}
	}
	wantPorts := map[string]int32{"rtmp": 1935}
	if cfg.RTMPSAddr != "" {
		wantPorts["rtmps"] = 1936
	}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("Service %s ports %v, want %v", svc.Name, ports, wantPorts)
	}
	if ms := find[*corev1.Service](t, c.objs, fullname+"-edge-metrics"); ms.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s is %s, want ClusterIP", ms.Name, ms.Spec.Type)
	}

	// RTMPS: the listener, the certificate files in the mounted Secret.
	tlsOn := c.vs.tls || strings.Contains(c.vs.values, "tls: {enabled: true")
	if tlsOn != (cfg.RTMPSAddr != "") {
		t.Errorf("edge rtmps_addr %q with TLS %v", cfg.RTMPSAddr, tlsOn)
	}
	if tlsOn {
		if portOf(t, cfg.RTMPSAddr) != containerPort(t, ctr, "rtmps") {
			t.Errorf("edge rtmps_addr %s is not the container port rtmps", cfg.RTMPSAddr)
		}
		c.checkSecretFile(spec, ctr, c.podPath(cfg.TLSCert), corev1.TLSCertKey)
		c.checkSecretFile(spec, ctr, c.podPath(cfg.TLSKey), corev1.TLSPrivateKeyKey)
	}

	// Settings from values.
	if strings.Contains(c.vs.values, "publishPolicy: takeover") &&
		(cfg.PublishPolicy != "takeover" || cfg.PlayerMaxLag != 20*time.Second || cfg.MaxConns != 5000 || cfg.BusPrefix != "acme_live") {
		t.Errorf("edge settings from values not applied: %+v", cfg)
	}
	c.checkLimits(cfg)
	c.checkAuth(spec, ctr, cfg)
	c.checkBackendSecurity("edge", spec, ctr, cfg.NATSSecurity, cfg.EtcdSecurity)
	if cfg.AdminToken.IsSet() || slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "TRIBUTARY_ADMIN_TOKEN" }) {
		t.Errorf("edge gets an admin token, but runs no controller")
	}
	c.checkAntiAffinity(spec, "edge")
}

// edgeValues returns the edge section of the value set.
func (c *chartCheck) edgeValues() map[string]any {
	e, _ := valuesYAML(c.t, c.vs.values)["edge"].(map[string]any)
	return e
}

// checkLimits: the edge's limits are the values given, and the program's defaults for the
// others.
func (c *chartCheck) checkLimits(cfg config.Edge) {
	t := c.t
	t.Helper()
	limits, _ := c.edgeValues()["limits"].(map[string]any)
	def := config.DefaultEdge()
	count := func(name string, got, dflt int) {
		want := dflt
		if v, ok := limits[name]; ok && v != nil {
			want = int(v.(float64))
		}
		if got != want {
			t.Errorf("edge limit %s: %d, want %d", name, got, want)
		}
	}
	count("maxConns", cfg.MaxConns, def.MaxConns)
	count("maxConnsPerIP", cfg.MaxConnsPerIP, def.MaxConnsPerIP)
	count("maxPublishers", cfg.MaxPublishers, def.MaxPublishers)
	count("maxPlayersPerStream", cfg.MaxPlayersPerStream, def.MaxPlayersPerStream)
	want := def.MaxPublishBitrate
	switch v := limits["maxPublishBitrate"].(type) {
	case string:
		b, err := config.ParseBitrate(v)
		if err != nil {
			t.Fatal(err)
		}
		want = b
	case float64:
		want = config.Bitrate(v)
	}
	if cfg.MaxPublishBitrate != want {
		t.Errorf("edge limit maxPublishBitrate: %v, want %v", cfg.MaxPublishBitrate, want)
	}
	duration := func(name string, got, dflt time.Duration) {
		want := dflt
		if v, ok := limits[name].(string); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			want = d
		}
		if got != want {
			t.Errorf("edge limit %s: %v, want %v", name, got, want)
		}
	}
	duration("handshakeTimeout", cfg.HandshakeTimeout, def.HandshakeTimeout)
	duration("connectTimeout", cfg.ConnectTimeout, def.ConnectTimeout)
	duration("idleTimeout", cfg.IdleTimeout, def.IdleTimeout)
}

// checkAuth: the edge's auth section is edge.auth, and the files it names are in the mounted
// edge.authSecret.
func (c *chartCheck) checkAuth(spec corev1.PodSpec, ctr corev1.Container, cfg config.Edge) {
	t := c.t
	t.Helper()
	ev := c.edgeValues()
	auth, _ := ev["auth"].(map[string]any)
	if len(auth) == 0 {
		if !cfg.Auth.IsZero() {
			t.Errorf("edge has auth rules without edge.auth: %+v", cfg.Auth)
		}
		return
	}
	apps, _ := auth["apps"].(map[string]any)
	var gotApps, wantApps []string
	for name := range cfg.Auth.Apps {
		gotApps = append(gotApps, name)
	}
	for name := range apps {
		wantApps = append(wantApps, name)
	}
	slices.Sort(gotApps)
	slices.Sort(wantApps)
	if !slices.Equal(gotApps, wantApps) || (cfg.Auth.Default != nil) != (auth["default"] != nil) {
		t.Errorf("edge auth: applications %v, default %v; want %v, default %v", gotApps, cfg.Auth.Default != nil, wantApps, auth["default"] != nil)
	}
	secret, _ := ev["authSecret"].(string)
	var files []string
	rules := []*config.AuthApp{cfg.Auth.Default}
	for _, app := range cfg.Auth.Apps {
		rules = append(rules, app)
	}
	for _, app := range rules {
		if app == nil {
			continue
		}
		for _, r := range []*config.AuthRule{app.Publish, app.Play} {
			if r == nil {
				continue
			}
			if r.KeysFile != "" {
				files = append(files, r.KeysFile)
			}
			if r.Token != nil && r.Token.SecretsFile != "" {
				files = append(files, r.Token.SecretsFile)
			}
		}
	}
	if secret != "" && len(files) == 0 {
		t.Errorf("edge.authSecret %s is mounted, but no rule names a file", secret)
	}
	for _, f := range files {
		f = c.podPath(f)
		if path.Dir(f) != "/etc/tributary/auth" {
			t.Errorf("edge auth file %s is not in /etc/tributary/auth", f)
			continue
		}
		c.checkSecretMount(spec, ctr, f, secret, path.Base(f))
	}
}

// checkSecretMount: file is the key of the Secret named secret, mounted read-only over its
// directory.
func (c *chartCheck) checkSecretMount(spec corev1.PodSpec, ctr corev1.Container, file, secret, key string) {
	t := c.t
	t.Helper()
	for _, m := range ctr.VolumeMounts {
		if path.Dir(file) != strings.TrimSuffix(m.MountPath, "/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil || v.Secret.SecretName != secret || len(v.Secret.Items) > 0 || path.Base(file) != key || !m.ReadOnly {
				t.Errorf("container %s: %s: volume %s %+v, mount %+v; want Secret %s key %s, read-only", ctr.Name, file, v.Name, v.VolumeSource, m, secret, key)
			}
			return
		}
	}
	t.Errorf("container %s: nothing is mounted over %s (want Secret %s)", ctr.Name, file, secret)
}

// checkSecretEnv: the variable comes from the key of the Secret in ref ({name, key} values),
// or is absent when ref names no Secret.
func (c *chartCheck) checkSecretEnv(ctr corev1.Container, name string, ref map[string]any) {
	t := c.t
	t.Helper()
	secret, _ := ref["name"].(string)
	key, _ := ref["key"].(string)
	i := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	switch {
	case secret == "" && i >= 0:
		t.Errorf("container %s: %s set without a Secret in the values", ctr.Name, name)
	case secret == "":
	case i < 0:
		t.Errorf("container %s: no %s (want Secret %s key %s)", ctr.Name, name, secret, key)
	default:
		r := ctr.Env[i].ValueFrom
		if r == nil || r.SecretKeyRef == nil || r.SecretKeyRef.Name != secret || r.SecretKeyRef.Key != key {
			t.Errorf("container %s: %s from %+v, want Secret %s key %s", ctr.Name, name, r, secret, key)
		}
	}
}

// checkBackendSecurity: the credentials and TLS files of external NATS and etcd reach the
// program as the values say: user names in its configuration, passwords and tokens from
// Secrets, files from the mounted filesSecret.
func (c *chartCheck) checkBackendSecurity(who string, spec corev1.PodSpec, ctr corev1.Container, nats config.NATSSecurity, etcd config.EtcdSecurity) {
	t := c.t
	t.Helper()
	vals := valuesYAML(t, c.vs.values)
	external := func(component string) map[string]any {
		comp, _ := vals[component].(map[string]any)
		ext, _ := comp["external"].(map[string]any)
		return ext
	}
	str := func(m map[string]any, keys ...string) string {
		for _, k := range keys[:len(keys)-1] {
			m, _ = m[k].(map[string]any)
		}
		s, _ := m[keys[len(keys)-1]].(string)
		return s
	}
	ref := func(m map[string]any, name string) map[string]any {
		r, _ := m[name].(map[string]any)
		if r != nil && r["key"] == nil {
			r["key"] = map[string]string{"passwordSecret": "password", "tokenSecret": "token"}[name]
		}
		return r
	}
	file := func(component, dir, got string, ext map[string]any, keys ...string) {
		t.Helper()
		key := str(ext, keys...)
		if key == "" {
			if got != "" {
				t.Errorf("%s: %s file %s without %s.external.%s", who, component, got, component, strings.Join(keys, "."))
			}
			return
		}
		got = c.podPath(got)
		if got != dir+"/"+key {
			t.Errorf("%s: %s %s is %q, want %s/%s", who, component, strings.Join(keys, "."), got, dir, key)
			return
		}
		c.checkSecretMount(spec, ctr, got, str(ext, "filesSecret"), key)
	}

	n := external("nats")
	if nats.User != str(n, "user") || nats.TLSServerName != str(n, "tls", "serverName") {
		t.Errorf("%s: NATS user %q, TLS server name %q; want %q, %q", who, nats.User, nats.TLSServerName, str(n, "user"), str(n, "tls", "serverName"))
	}
	c.checkSecretEnv(ctr, "TRIBUTARY_NATS_PASSWORD", ref(n, "passwordSecret"))
	c.checkSecretEnv(ctr, "TRIBUTARY_NATS_TOKEN", ref(n, "tokenSecret"))
	if nats.Password.IsSet() != (str(n, "passwordSecret", "name") != "") || nats.Token.IsSet() != (str(n, "tokenSecret", "name") != "") {
		t.Errorf("%s: NATS password %v, token %v, from the values %v", who, nats.Password, nats.Token, n)
	}
	if nats.PasswordFile != "" || nats.TokenFile != "" {
		t.Errorf("%s: NATS password or token file set: the chart gives them as variables", who)
	}
	file("nats", "/etc/tributary/nats", nats.NKeyFile, n, "nkeyFile")
	file("nats", "/etc/tributary/nats", nats.CredsFile, n, "credsFile")
	file("nats", "/etc/tributary/nats", nats.TLSCA, n, "tls", "ca")
	file("nats", "/etc/tributary/nats", nats.TLSCert, n, "tls", "cert")
	file("nats", "/etc/tributary/nats", nats.TLSKey, n, "tls", "key")

	e := external("etcd")
	if etcd.User != str(e, "user") {
		t.Errorf("%s: etcd user %q, want %q", who, etcd.User, str(e, "user"))
	}
	c.checkSecretEnv(ctr, "TRIBUTARY_ETCD_PASSWORD", ref(e, "passwordSecret"))
	if etcd.Password.IsSet() != (str(e, "passwordSecret", "name") != "") || etcd.PasswordFile != "" {
		t.Errorf("%s: etcd password %v (file %q), from the values %v", who, etcd.Password, etcd.PasswordFile, e)
	}
	file("etcd", "/etc/tributary/etcd", etcd.TLSCA, e, "tls", "ca")
	file("etcd", "/etc/tributary/etcd", etcd.TLSCert, e, "tls", "cert")
	file("etcd", "/etc/tributary/etcd", etcd.TLSKey, e, "tls", "key")
}

// checkSecretFile: file is a key of the Secret volume mounted over its directory.
func (c *chartCheck) checkSecretFile(spec corev1.PodSpec, ctr corev1.Container, file, key string) {
	t := c.t
	t.Helper()
	for _, m := range ctr.VolumeMounts {
		if path.Dir(file) != strings.TrimSuffix(m.MountPath, "/") || path.Base(file) != key {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				if s, ok := lookup[*corev1.Secret](c.objs, v.Secret.SecretName); ok {
					if s.Type != corev1.SecretTypeTLS || len(s.Data[key]) == 0 {
						t.Errorf("Secret %s: type %s, no %s", s.Name, s.Type, key)
					}
				}
				return
			}
		}
	}
	t.Errorf("container %s: %s is not the key %s of a mounted Secret", ctr.Name, file, key)
}

// checkAntiAffinity: the pods spread over nodes unless the values say none.
func (c *chartCheck) checkAntiAffinity(spec corev1.PodSpec, component string) {
	t := c.t
	t.Helper()
	none := component == "edge" && strings.Contains(c.vs.values, "antiAffinity: none")
	if none {
		if spec.Affinity != nil {
			t.Errorf("%s: affinity with antiAffinity none", component)
		}
		return
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("%s: no pod anti-affinity", component)
		return
	}
	var terms []corev1.PodAffinityTerm
	terms = append(terms, spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
	for _, w := range spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		terms = append(terms, w.PodAffinityTerm)
	}
	for _, term := range terms {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil || term.TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("%s: anti-affinity term %+v: %v", component, term, err)
			continue
		}
		ws := c.selected(sel)
		if len(ws) != 1 || !strings.HasSuffix(ws[0].name, "-"+component) {
			t.Errorf("%s: anti-affinity selects %v", component, ws)
		}
	}
}

// checkController loads the controller's configuration with the program's own loader.
func (c *chartCheck) checkController() {
	t := c.t
	d := find[*appsv1.Deployment](t, c.objs, fullname+"-controller")
	spec := d.Spec.Template.Spec
	ctr := container(t, spec, "controller")
	if !slices.Equal(ctr.Command, []string{"/usr/local/bin/tributary-controller"}) {
		t.Errorf("controller command %v", ctr.Command)
	}
	args, environ := c.programConfig(spec, ctr)
	cfg, err := config.LoadController("controller", args, environ, io.Discard)
	if err != nil {
		t.Fatalf("the controller rejects its configuration: %v\nargs %q\nenv %q", err, args, environ)
	}
	c.checkBackends("controller", cfg.NATSURLs(), cfg.EtcdEndpointList())
	if portOf(t, cfg.HTTPAddr) != containerPort(t, ctr, "http") {
		t.Errorf("controller http_addr %s is not the container port http", cfg.HTTPAddr)
	}
	checkProbes(t, ctr)
	c.checkOTel(ctr, "tributary-controller")
	c.checkBackendSecurity("controller", spec, ctr, cfg.NATSSecurity, cfg.EtcdSecurity)
	admin, _ := valuesYAML(t, c.vs.values)["adminToken"].(map[string]any)
	adminRef := map[string]any{}
	if name, _ := admin["existingSecret"].(string); name != "" {
		adminRef["name"] = name
		adminRef["key"] = "token"
		if k, ok := admin["existingSecretKey"].(string); ok {
			adminRef["key"] = k
		}
	}
	c.checkSecretEnv(ctr, "TRIBUTARY_ADMIN_TOKEN", adminRef)
	if cfg.AdminToken.IsSet() != (adminRef["name"] != nil) {
		t.Errorf("controller admin token %v, from the values %v", cfg.AdminToken, admin)
	}
	svc := find[*corev1.Service](t, c.objs, fullname+"-controller")
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" {
		t.Errorf("Service %s: %s %+v, want ClusterIP with the http port", svc.Name, svc.Spec.Type, svc.Spec.Ports)
	}
	want := int32(2)
	switch {
	case strings.Contains(c.vs.values, "controller: {replicas: 1"):
		want = 1
	case strings.Contains(c.vs.values, "controller:\n  replicas: 3"):
		want = 3
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
		t.Errorf("controller replicas %v, want %d", d.Spec.Replicas, want)
	}
	// The edges and the controllers share the cluster settings.
	edgeDep := find[*appsv1.Deployment](t, c.objs, fullname+"-edge")
	eargs, eenv := c.programConfig(edgeDep.Spec.Template.Spec, container(t, edgeDep.Spec.Template.Spec, "edge"))
	ecfg, err := config.LoadEdge("edge", eargs, eenv, io.Discard)
	if err == nil && (ecfg.BusPrefix != cfg.BusPrefix || ecfg.ReconnectGrace != cfg.ReconnectGrace || ecfg.LeaseTTL != cfg.LeaseTTL) {
		t.Errorf("edge and controller disagree: bus prefix %q/%q, reconnect grace %v/%v, lease TTL %v/%v",
			ecfg.BusPrefix, cfg.BusPrefix, ecfg.ReconnectGrace, cfg.ReconnectGrace, ecfg.LeaseTTL, cfg.LeaseTTL)
	}
	c.checkAntiAffinity(spec, "controller")
}

// checkNATS runs the bundled NATS container's command line through nats-server's own option
// parsing, with its configuration file.
func (c *chartCheck) checkNATS() {
	t := c.t
	if !c.bundled("nats") {
		return
	}
	ss := find[*appsv1.StatefulSet](t, c.objs, fullname+"-nats")
	spec := ss.Spec.Template.Spec
	ctr := container(t, spec, "nats")
	cfgPath, ok := argValue(ctr.Args, "-config")
	if !ok {
		t.Fatalf("nats args %v: no --config", ctr.Args)
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(c.mountedFile(spec, ctr, cfgPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	pod := ss.Name + "-0"
	t.Setenv("POD_NAME", pod)
	if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
	}) {
		t.Errorf("nats POD_NAME is not the pod's name from the downward API")
	}
	args := slices.Clone(ctr.Args)
	for i, a := range args {
		if strings.HasPrefix(a, "--config=") {
			args[i] = "--config=" + file
		}
	}
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts, err := natsserver.ConfigureOptions(fs, args, func() {}, func() {}, func() {})
	if err != nil {
		t.Fatalf("nats-server rejects %v: %v", args, err)
	}
	if opts.ServerName != pod {
		t.Errorf("nats server name %q, want the pod name %q", opts.ServerName, pod)
	}
	if int32(opts.Port) != containerPort(t, ctr, "client") || int32(opts.Cluster.Port) != containerPort(t, ctr, "cluster") ||
		int32(opts.HTTPPort) != containerPort(t, ctr, "monitor") {
		t.Errorf("nats ports: client %d, cluster %d, monitor %d do not match the container ports", opts.Port, opts.Cluster.Port, opts.HTTPPort)
	}
	var routes []string
	for _, u := range opts.Routes {
		routes = append(routes, u.Host)
	}
	var want []string
	for i := range *ss.Spec.Replicas {
		want = append(want, fmt.Sprintf("%s-%d.%s:%d", ss.Name, i, ss.Spec.ServiceName, opts.Cluster.Port))
	}
	if !slices.Equal(routes, want) {
		t.Errorf("nats routes %v, want every server through the headless Service %v", routes, want)
	}
	headless := find[*corev1.Service](t, c.objs, ss.Spec.ServiceName)
	if !slices.ContainsFunc(headless.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == int32(opts.Cluster.Port) }) {
		t.Errorf("headless Service %s has no cluster port %d", headless.Name, opts.Cluster.Port)
	}
	// Lame duck mode: the preStop hook signals the server, the grace period covers the mode.
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Exec == nil ||
		!slices.Equal(ctr.Lifecycle.PreStop.Exec.Command[1:], []string{"--signal", "ldm=1"}) {
		t.Errorf("nats preStop %+v does not enter lame duck mode", ctr.Lifecycle)
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if opts.LameDuckDuration < 30*time.Second || grace <= opts.LameDuckDuration+opts.LameDuckGracePeriod {
		t.Errorf("nats lame duck %v + %v, grace period %v", opts.LameDuckDuration, opts.LameDuckGracePeriod, grace)
	}
	if ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("nats pod management %s", ss.Spec.PodManagementPolicy)
	}
}

// checkEtcd: the bundled members name each other consistently through the headless Service.
func (c *chartCheck) checkEtcd() {
	t := c.t
	if !c.bundled("etcd") {
		return
	}
	ss := find[*appsv1.StatefulSet](t, c.objs, fullname+"-etcd")
	ctr := container(t, ss.Spec.Template.Spec, "etcd")
	env := map[string]string{}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil {
			if e.Name != "POD_NAME" || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("etcd env %s from %+v", e.Name, e.ValueFrom)
			}
			env[e.Name] = "$(POD_NAME)"
			continue
		}
		if _, ok := env["POD_NAME"]; !ok && strings.Contains(e.Value, "$(POD_NAME)") {
			t.Errorf("etcd env %s uses $(POD_NAME) before it is defined", e.Name)
		}
		env[e.Name] = e.Value
	}
	var members []string
	for i := range *ss.Spec.Replicas {
		members = append(members, fmt.Sprintf("%s-%d=http://%s-%d.%s:2380", ss.Name, i, ss.Name, i, ss.Spec.ServiceName))
	}
	if env["ETCD_INITIAL_CLUSTER"] != strings.Join(members, ",") {
		t.Errorf("etcd initial cluster %q, want %q", env["ETCD_INITIAL_CLUSTER"], strings.Join(members, ","))
	}
	// Each member's advertised peer URL, with its pod name, is its entry of the initial cluster.
	for i := range *ss.Spec.Replicas {
		pod := fmt.Sprintf("%s-%d", ss.Name, i)
		name := strings.ReplaceAll(env["ETCD_NAME"], "$(POD_NAME)", pod)
		peer := strings.ReplaceAll(env["ETCD_INITIAL_ADVERTISE_PEER_URLS"], "$(POD_NAME)", pod)
		if !slices.Contains(members, name+"="+peer) {
			t.Errorf("etcd member %s advertises %s=%s, not in the initial cluster", pod, name, peer)
		}
	}
	for name, port := range map[string]string{"ETCD_LISTEN_CLIENT_URLS": "client", "ETCD_LISTEN_PEER_URLS": "peer", "ETCD_LISTEN_METRICS_URLS": "metrics"} {
		if !strings.HasSuffix(env[name], fmt.Sprintf(":%d", containerPort(t, ctr, port))) {
			t.Errorf("etcd %s %q is not the container port %s", name, env[name], port)
		}
	}
	if ctr.LivenessProbe == nil || ctr.LivenessProbe.HTTPGet.Path != "/livez" || ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("etcd probes: %+v %+v", ctr.LivenessProbe, ctr.ReadinessProbe)
	}
	if !strings.HasPrefix(env["ETCD_DATA_DIR"], "/var/lib/etcd/") || !slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "data" && m.MountPath == "/var/lib/etcd" }) {
		t.Errorf("etcd data dir %q is not on the data volume", env["ETCD_DATA_DIR"])
	}
	persistent := !strings.Contains(c.vs.values, "persistence: {enabled: false}")
	if persistent != (len(ss.Spec.VolumeClaimTemplates) == 1) {
		t.Errorf("etcd persistence %v, volume claim templates %d", persistent, len(ss.Spec.VolumeClaimTemplates))
	}
	if strings.Contains(c.vs.values, "storageClass: fast-ssd") {
		sc := ss.Spec.VolumeClaimTemplates[0].Spec.StorageClassName
		if sc == nil || *sc != "fast-ssd" {
			t.Errorf("etcd storage class %v", sc)
		}
	}
	if ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("etcd pod management %s: a static initial cluster needs its members together", ss.Spec.PodManagementPolicy)
	}
}

// checkHelmTest: the test pod runs the load tool against the edge Service's RTMP port.
func (c *chartCheck) checkHelmTest() {
	t := c.t
	pods := objectsOf[*corev1.Pod](c.hooks)
	if strings.Contains(c.vs.values, "helmTest: {enabled: false}") {
		if len(pods) > 0 {
			t.Errorf("test pod rendered while disabled")
		}
		return
	}
	if len(pods) != 1 {
		t.Fatalf("%d test pods, want 1", len(pods))
	}
	p := pods[0]
	if p.Annotations["helm.sh/hook"] != "test" || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod %s: hook %q, restart policy %s", p.Name, p.Annotations["helm.sh/hook"], p.Spec.RestartPolicy)
	}
	ctr := p.Spec.Containers[0]
	if !slices.Equal(ctr.Command, []string{"/usr/local/bin/tributary-load"}) || !strings.Contains(ctr.Image, "tributary/load:") {
		t.Errorf("test pod runs %s %v", ctr.Image, ctr.Command)
	}
	edges, _ := argValue(ctr.Args, "edges")
	host, port, err := net.SplitHostPort(edges)
	if err != nil {
		t.Fatalf("test pod -edges %q: %v", edges, err)
	}
	svc := find[*corev1.Service](t, c.objs, host)
	dep := find[*appsv1.Deployment](t, c.objs, fullname+"-edge")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("test pod plays from Service %s, which does not select the edges", svc.Name)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
		return strconv.Itoa(int(sp.Port)) == port && sp.TargetPort.String() == "rtmp"
	}) {
		t.Errorf("test pod -edges %s: not the rtmp port of Service %s", edges, svc.Name)
	}
	for _, flag := range []string{"input", "publishers", "players", "duration", "min-delivery"} {
		if _, ok := argValue(ctr.Args, flag); !ok {
			t.Errorf("test pod: no -%s", flag)
		}
	}
	if md, _ := argValue(ctr.Args, "min-delivery"); md != "0.95" {
		t.Errorf("test pod -min-delivery %s", md)
	}
	if in, _ := argValue(ctr.Args, "input"); in != "/usr/share/tributary/sample.flv" {
		t.Errorf("test pod -input %s", in)
	}
}

// checkDashboard: the Grafana dashboard is the JSON file, labelled for the sidecar.
func (c *chartCheck) checkDashboard() {
	t := c.t
	cm, ok := lookup[*corev1.ConfigMap](c.objs, fullname+"-dashboard")
	if strings.Contains(c.vs.values, "dashboards: {enabled: false}") {
		if ok {
			t.Errorf("dashboard rendered while disabled")
		}
		return
	}
	if !ok {
		t.Fatalf("no dashboard ConfigMap")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v: no grafana_dashboard", cm.Labels)
	}
	want, err := os.ReadFile(filepath.Join(chartDir, "dashboards", "tributary.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := cm.Data["tributary.json"]
	if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("dashboard ConfigMap differs from dashboards/tributary.json")
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("dashboard is not valid JSON")
	}
}

// TestChartLint runs Helm's lint with warnings as failures, on the defaults and on value sets.
func TestChartLint(t *testing.T) {
	kv, err := common.ParseKubeVersion(render.KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			vals := valuesYAML(t, vs.values)
			if vs.tls {
				cert, key := selfSignedPEM(t)
				vals["tls"] = map[string]any{"enabled": true, "cert": cert, "key": key}
			}
			l := action.NewLint()
			l.Strict = true
			l.Namespace = testNamespace
			l.KubeVersion = kv
			res := l.Run([]string{chartDir}, vals)
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			for _, err := range res.Errors {
				t.Errorf("lint: %v", err)
			}
			if res.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts", res.TotalChartsLinted)
			}
		})
	}
}

// TestChartRejectsBadValues: values.schema.json rejects wrong types and unknown keys, and the
// templates reject combinations the schema cannot express; each with a message naming the value.
func TestChartRejectsBadValues(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"wrong type", `edge: {replicas: "three"}`, "/edge/replicas"},
		{"wrong type nested", `edge: {service: {rtmpPort: "1935"}}`, "/edge/service/rtmpPort"},
		{"unknown key", `edge: {replicaz: 3}`, "replicaz"},
		{"unknown top-level key", `natz: {bundled: {enabled: false}}`, "natz"},
		{"unknown nested key", `etcd: {bundled: {persistence: {sise: 2Gi}}}`, "sise"},
		{"bad enum", `edge: {service: {type: Ingress}}`, "/edge/service/type"},
		{"bad duration", `cluster: {leaseTTL: 5}`, "/cluster/leaseTTL"},
		{"bad duration text", `edge: {playerMaxLag: 10 seconds}`, "/edge/playerMaxLag"},
		{"bad size", `edge: {gopCache: 8 megabytes}`, "/edge/gopCache"},
		{"negative replicas", `edge: {replicas: -1}`, "/edge/replicas"},
		{"even etcd", `etcd: {bundled: {replicas: 2}}`, "/etcd/bundled/replicas"},
		{"short lame duck", `nats: {bundled: {lameDuckSeconds: 5}}`, "/nats/bundled/lameDuckSeconds"},
		{"bad bus prefix", `busPrefix: a.b`, "/busPrefix"},
		{"delivery over 1", `helmTest: {minDelivery: 95}`, "/helmTest/minDelivery"},
		{"no nats", `nats: {bundled: {enabled: false}}`, "nats.external.urls"},
		{"both nats", `nats: {external: {urls: ["nats://x:4222"]}}`, "nats.bundled.enabled"},
		{"no etcd", `etcd: {bundled: {enabled: false}}`, "etcd.external.endpoints"},
		{"tls without certificate", `tls: {enabled: true}`, "tls.existingSecret"},
		{"autoscaling min over max", `edge: {autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}}`, "minReplicas"},
		{"limit wrong type", `edge: {limits: {maxConns: "many"}}`, "/edge/limits/maxConns"},
		{"negative limit", `edge: {limits: {maxPublishers: -1}}`, "/edge/limits/maxPublishers"},
		{"limit bad duration", `edge: {limits: {idleTimeout: 30}}`, "/edge/limits/idleTimeout"},
		{"limit bad bit rate", `edge: {limits: {maxPublishBitrate: 8 megabits}}`, "/edge/limits/maxPublishBitrate"},
		{"unknown limit", `edge: {limits: {maxConnections: 5}}`, "maxConnections"},
		{"old maxConns", `edge: {maxConns: 5}`, "maxConns"},
		{"auth keys not a list", `edge: {auth: {apps: {live: {publish: {keys: k-4f9a0c2e7d1b0a3c}}}}}`, "/edge/auth/apps/live/publish/keys"},
		{"auth unknown key", `edge: {auth: {default: {publish: {keyz: [k-4f9a0c2e7d1b0a3c]}}}}`, "keyz"},
		{"auth bad require", `edge: {auth: {default: {play: {require: some, deny: true}}}}`, "/edge/auth/default/play/require"},
		{"auth short secret", `edge: {auth: {default: {play: {token: {secrets: [short]}}}}}`, "/edge/auth/default/play/token/secrets/0"},
		{"auth secret wrong type", `edge: {authSecret: [stream-keys]}`, "/edge/authSecret"},
		{"auth secret without auth", `edge: {authSecret: stream-keys}`, "edge.auth"},
		{"admin token wrong type", `adminToken: {existingSecret: true}`, "/adminToken/existingSecret"},
		{"nats user wrong type", `nats: {external: {user: 5}}`, "/nats/external/user"},
		{"nats tls wrong type", `nats: {external: {tls: {ca: true}}}`, "/nats/external/tls/ca"},
		{"nats file key with a path", `nats: {external: {nkeyFile: ../edge.nk}}`, "/nats/external/nkeyFile"},
		{"etcd password not a reference", `etcd: {external: {passwordSecret: etcd-login}}`, "/etcd/external/passwordSecret"},
		{"nats credentials with bundled", `nats: {external: {user: edge, passwordSecret: {name: nats-login}}}`, "nats.bundled.enabled"},
		{"etcd TLS with bundled", `etcd: {external: {filesSecret: etcd-tls, tls: {ca: ca.crt}}}`, "etcd.bundled.enabled"},
		{"two nats methods", `nats: {bundled: {enabled: false}, external: {urls: ["nats://x:4222"], user: edge, passwordSecret: {name: nats-login}, tokenSecret: {name: nats-token}}}`, "tokenSecret"},
		{"nats user without password", `nats: {bundled: {enabled: false}, external: {urls: ["nats://x:4222"], user: edge}}`, "nats.external.passwordSecret"},
		{"nats file without its Secret", `nats: {bundled: {enabled: false}, external: {urls: ["nats://x:4222"], nkeyFile: edge.nk}}`, "nats.external.filesSecret"},
		{"etcd user without password", `etcd: {bundled: {enabled: false}, external: {endpoints: ["etcd:2379"], user: edge}}`, "etcd.external.user"},
		{"etcd cert without key", `etcd: {bundled: {enabled: false}, external: {endpoints: ["etcd:2379"], filesSecret: etcd-tls, tls: {cert: tls.crt}}}`, "tls.key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Chart(chartDir, render.Options{ReleaseName: testRelease, Namespace: testNamespace, Values: valuesYAML(t, tc.values)})
			if err == nil {
				t.Fatalf("values %s: rendered, want an error", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("values %s: error %q does not name %q", tc.values, err, tc.want)
			}
		})
	}
}

// selfSignedPEM returns a certificate and its key, PEM encoded.
func selfSignedPEM(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "live.example.com"},
		DNSNames:     []string{"live.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}
