package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

const (
	syncTenant = "acme"
	hostNS     = "kplex-acme"
	// The tenant's service range lies inside the host's (10.96.0.0/16), apart from the
	// addresses the host allocates for itself in this test.
	virtualServiceCIDR = "10.96.128.0/20"
)

// syncEnv is a host cluster, a virtual cluster, and a syncer between them that runs
// with exactly the host rights of syncer.HostRole and syncer.HostClusterRole.
type syncEnv struct {
	host, virtual       *testenv.ControlPlane
	hostAdmin, vAdmin   kubernetes.Interface
	hostCfg, virtualCfg *rest.Config
	tr                  *translate.Translator
	t                   *testing.T // the syncer logs to, and is stopped with, this test
	stop                context.CancelFunc
	done                chan error
	kubeletPort         int32 // published in the virtual nodes; 0: the syncer's default
	gate                pods.NetworkGate
	noIngresses         bool // the tenant may not have Ingresses (its API server still allows them)
}

func newSyncEnv(ctx context.Context, t *testing.T) *syncEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	e := &syncEnv{
		t:       t,
		host:    testenv.NewControlPlane(t, "--profile", "host"),
		virtual: testenv.NewControlPlane(t, "--service-cidr", virtualServiceCIDR, "--allow-ingresses"),
	}
	e.host.Start(ctx)
	e.virtual.Start(ctx)
	e.hostAdmin, e.vAdmin = e.host.Client(), e.virtual.Client()

	// The host side, as the operator will prepare it.
	e.hostCfg = grantSyncer(ctx, t, e.host, hostNS, syncTenant)
	waitServiceAccount(ctx, t, e.hostAdmin, hostNS) // host pods run as the host namespace's default

	// The virtual side: kplex's own component identity, made cluster-admin.
	if err := syncer.EnsureVirtualRBAC(ctx, e.vAdmin); err != nil {
		t.Fatal(err)
	}
	if err := syncer.EnsureVirtualRBAC(ctx, e.vAdmin); err != nil {
		t.Fatalf("EnsureVirtualRBAC is not idempotent: %v", err)
	}
	var err error
	e.virtualCfg, err = clientcmd.BuildConfigFromFlags("", filepath.Join(e.virtual.DataDir, "kubeconfig", "kplex.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	e.tr, err = translate.New(translate.Tenant{Name: syncTenant, HostNamespace: hostNS})
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	return e
}

func (e *syncEnv) start() {
	t := e.t
	t.Helper()
	s, err := syncer.New(syncer.Options{
		Tenant: syncTenant, HostNamespace: hostNS, Virtual: e.virtualCfg, Host: e.hostCfg,
		TenantAPIHost: "10.0.0.10", TenantAPIPort: 6443, KubeletPort: e.kubeletPort, NetworkGate: e.gate, Ingresses: !e.noIngresses, Log: testr.NewWithOptions(t, testr.Options{Verbosity: 0}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan error, 1)
	go func() { e.done <- s.Start(ctx) }()
	t.Cleanup(func() { e.shutdown(t) })
}

func (e *syncEnv) shutdown(t *testing.T) {
	if e.stop == nil {
		return
	}
	e.stop()
	e.stop = nil
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("syncer: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("syncer did not stop within 30s")
	}
}

func waitServiceAccount(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("default service account in %s: %v", ns, err)
	}
}

// eventually polls cond for up to 60 s.
func eventually(ctx context.Context, t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within 60s (last error: %v)", what, last)
	}
}

func (e *syncEnv) hostPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return e.hostAdmin.CoreV1().Pods(hostNS).Get(ctx, e.tr.HostName(ns, name), metav1.GetOptions{})
}

func (e *syncEnv) waitHostPod(ctx context.Context, t *testing.T, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	eventually(ctx, t, "host pod of "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		p, err := e.hostPod(ctx, ns, name)
		if err != nil {
			return false, err
		}
		got = p
		return cond == nil || cond(p), nil
	})
	return got
}

func (e *syncEnv) waitHostPodGone(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	eventually(ctx, t, "host pod of "+ns+"/"+name+" gone", func(ctx context.Context) (bool, error) {
		_, err := e.hostPod(ctx, ns, name)
		return apierrors.IsNotFound(err), err
	})
}

// testPod is a pod a virtual cluster accepts at its default level, restricted.
func testPod(ns, name string) *corev1.Pod {
	p := rootTestPod(ns, name)
	podsecurity.Restrict(&p.Spec)
	return p
}

// rootTestPod runs as the image's user, root: it passes the baseline level only.
func rootTestPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []corev1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent}},
		},
	}
}

func TestSyncer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	mustNamespace(ctx, t, e.vAdmin, "shop")
	waitServiceAccount(ctx, t, e.vAdmin, "shop")

	t.Run("pod is copied with a rewritten spec and a virtual token", func(t *testing.T) { testPodCopied(ctx, t, e) })
	t.Run("status and node flow back", func(t *testing.T) { testStatusBack(ctx, t, e) })
	t.Run("service keeps its cluster IP", func(t *testing.T) { testService(ctx, t, e) })
	t.Run("deleted host pod is recreated", func(t *testing.T) { testHostPodRecreated(ctx, t, e) })
	t.Run("deleting the virtual pod deletes the host pod", func(t *testing.T) { testVirtualDelete(ctx, t, e) })
	t.Run("orphan host pods are deleted", func(t *testing.T) { testOrphans(ctx, t, e) })
	t.Run("reused name and changes while stopped", func(t *testing.T) { testRestart(ctx, t, e) })
	t.Run("namespace deletion", func(t *testing.T) { testSyncedNamespaceDeletion(ctx, t, e) })
}

func testPodCopied(ctx context.Context, t *testing.T, e *syncEnv) {
	_, err := e.vAdmin.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"level": "debug"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := testPod("shop", "web")
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "level"}}}}
	vp, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, "shop", "web", nil)
	if hp.Annotations[translate.AnnotationVirtualUID] != string(vp.UID) || hp.Labels["vl.kplex.dev/app"] != "web" {
		t.Errorf("host pod metadata: %v %v", hp.Labels, hp.Annotations)
	}
	if hp.Spec.AutomountServiceAccountToken == nil || *hp.Spec.AutomountServiceAccountToken || *hp.Spec.EnableServiceLinks {
		t.Error("host pod may mount the host token or get host service links")
	}
	tokenSecret := pods.TokenSecretName(e.tr, "shop", "web")
	var mounted bool
	for _, v := range hp.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					t.Errorf("host pod has a projected host token in volume %s", v.Name)
				}
			}
		}
		if v.Secret != nil && v.Secret.SecretName == tokenSecret {
			for _, m := range hp.Spec.Containers[0].VolumeMounts {
				mounted = mounted || (m.Name == v.Name && m.MountPath == pods.ServiceAccountMountPath)
			}
		}
	}
	if !mounted {
		t.Errorf("token secret not mounted at %s: %+v", pods.ServiceAccountMountPath, hp.Spec.Volumes)
	}
	env := map[string]corev1.EnvVar{}
	for _, v := range hp.Spec.Containers[0].Env {
		env[v.Name] = v
	}
	if env["KUBERNETES_SERVICE_HOST"].Value != "10.0.0.10" || env["KUBERNETES_SERVICE_PORT"].Value != "6443" {
		t.Errorf("KUBERNETES_SERVICE_*: %+v", env)
	}
	if ref := env["LEVEL"].ValueFrom.ConfigMapKeyRef.Name; ref != e.tr.HostName("shop", "web-config") {
		t.Errorf("configmap reference %s not renamed", ref)
	}

	// The referenced ConfigMap is copied.
	eventually(ctx, t, "host configmap", func(ctx context.Context) (bool, error) {
		cm, err := e.hostAdmin.CoreV1().ConfigMaps(hostNS).Get(ctx, e.tr.HostName("shop", "web-config"), metav1.GetOptions{})
		return err == nil && cm.Data["level"] == "debug", err
	})

	// The token Secret: issued by the virtual API server for this virtual pod.
	var sec *corev1.Secret
	eventually(ctx, t, "token secret of the virtual pod", func(ctx context.Context) (bool, error) {
		sec, err = e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, tokenSecret, metav1.GetOptions{})
		return err == nil && sec.Annotations[translate.AnnotationVirtualUID] == string(vp.UID), err
	})
	ca, _ := os.ReadFile(filepath.Join(e.virtual.DataDir, "pki", "ca.crt"))
	if !bytes.Equal(sec.Data["ca.crt"], ca) || string(sec.Data["namespace"]) != "shop" {
		t.Errorf("token secret ca.crt/namespace wrong: namespace %q", sec.Data["namespace"])
	}
	for k, v := range hp.Annotations {
		if bytes.Contains([]byte(v), sec.Data["token"]) {
			t.Errorf("token in host pod annotation %s", k)
		}
	}
	podClient := kubernetes.NewForConfigOrDie(&rest.Config{Host: e.virtual.URL(), BearerToken: string(sec.Data["token"]),
		TLSClientConfig: rest.TLSClientConfig{CAData: sec.Data["ca.crt"]}})
	rev, err := podClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the pod's token does not authenticate to the virtual API server: %v", err)
	}
	if u := rev.Status.UserInfo; u.Username != "system:serviceaccount:shop:default" || u.Extra["authentication.kubernetes.io/pod-uid"][0] != string(vp.UID) {
		t.Errorf("token identifies %s %v, want shop's default service account bound to the pod", u.Username, u.Extra)
	}
}

func testStatusBack(ctx context.Context, t *testing.T, e *syncEnv) {
	// The test plays the host's scheduler and kubelet.
	if _, err := e.hostAdmin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, "shop", "web", nil)
	err := e.hostAdmin.CoreV1().Pods(hostNS).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: hp.Name, UID: hp.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setRunning(ctx, t, e, "web", "10.244.1.5", 2)
	eventually(ctx, t, "virtual pod bound and running", func(ctx context.Context) (bool, error) {
		vp, err := e.vAdmin.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := vp.Status
		return vp.Spec.NodeName == "node-1" && s.Phase == corev1.PodRunning && s.PodIP == "10.244.1.5" && s.HostIP == "192.168.0.1" &&
			len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].RestartCount == 2 && s.StartTime != nil, nil
	})
	// Binding the virtual pod must not replace the host pod.
	if now := e.waitHostPod(ctx, t, "shop", "web", nil); now.UID != hp.UID {
		t.Error("host pod replaced after binding the virtual pod")
	}
}

// setRunning reports a host pod of namespace shop running, as its kubelet would.
func setRunning(ctx context.Context, t *testing.T, e *syncEnv, name, ip string, restarts int32) {
	t.Helper()
	setRunningIn(ctx, t, e, "shop", name, ip, restarts)
}

func setRunningIn(ctx context.Context, t *testing.T, e *syncEnv, ns, name, ip string, restarts int32) {
	t.Helper()
	eventually(ctx, t, "host pod status update", func(ctx context.Context) (bool, error) {
		hp, err := e.hostPod(ctx, ns, name)
		if err != nil {
			return false, err
		}
		now := metav1.Now()
		hp.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "192.168.0.1", HostIPs: []corev1.HostIP{{IP: "192.168.0.1"}},
			StartTime: &now, QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "busybox", Ready: true, RestartCount: restarts, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		}
		_, err = e.hostAdmin.CoreV1().Pods(hostNS).UpdateStatus(ctx, hp, metav1.UpdateOptions{})
		return err == nil, err
	})
}

func testService(ctx context.Context, t *testing.T, e *syncEnv) {
	vs, err := e.vAdmin.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hs *corev1.Service
	eventually(ctx, t, "host service", func(ctx context.Context) (bool, error) {
		hs, err = e.hostAdmin.CoreV1().Services(hostNS).Get(ctx, e.tr.HostName("shop", "web"), metav1.GetOptions{})
		return err == nil, err
	})
	if hs.Spec.ClusterIP != vs.Spec.ClusterIP {
		t.Errorf("host cluster IP %s, virtual %s", hs.Spec.ClusterIP, vs.Spec.ClusterIP)
	}
	want, _ := e.tr.HostSelectorMap("shop", map[string]string{"app": "web"})
	if len(hs.Spec.Selector) != len(want) || hs.Spec.Selector["vl.kplex.dev/app"] != "web" {
		t.Errorf("host selector %v, want %v", hs.Spec.Selector, want)
	}
	// The virtual cluster's own endpoints controller sees the pod IP synced back.
	eventually(ctx, t, "virtual endpoints with the pod IP", func(ctx context.Context) (bool, error) {
		ep, err := e.vAdmin.CoreV1().Endpoints("shop").Get(ctx, "web", metav1.GetOptions{}) //nolint:staticcheck // the legacy API is what we check here
		if err != nil {
			return false, err
		}
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				if a.IP == "10.244.1.5" {
					return true, nil
				}
			}
		}
		return false, nil
	})
	slices, err := e.vAdmin.DiscoveryV1().EndpointSlices("shop").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range slices.Items {
		n += len(s.Endpoints)
	}
	t.Logf("virtual EndpointSlices of shop/web hold %d endpoint(s)", n)
}

func testHostPodRecreated(ctx context.Context, t *testing.T, e *syncEnv) {
	old := e.waitHostPod(ctx, t, "shop", "web", nil)
	if err := e.hostAdmin.CoreV1().Pods(hostNS).Delete(ctx, old.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, "shop", "web", func(p *corev1.Pod) bool { return p.UID != old.UID })
	// Back to the virtual pod's node, through the host scheduler: never by nodeName, which
	// the tenant could have set itself (pods/binding) to skip the host's taints and filters.
	if hp.Spec.NodeName != "" {
		t.Errorf("recreated host pod has nodeName %q; want none (pinned by affinity, placed by the host scheduler)", hp.Spec.NodeName)
	}
	if a := hp.Spec.Affinity; a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		fmt.Sprint(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) != fmt.Sprint([]corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}}}}) {
		t.Errorf("recreated host pod affinity %+v; want required metadata.name In [node-1] (the virtual pod's node)", a)
	}
	bindHostPod(ctx, t, e, "shop", "web", "node-1") // as the host scheduler would
	if _, err := e.vAdmin.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("virtual pod: %v", err)
	}
}

func testVirtualDelete(ctx context.Context, t *testing.T, e *syncEnv) {
	// Unscheduled: the virtual API server deletes it at once.
	if _, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", "lonely"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitHostPod(ctx, t, "shop", "lonely", nil)
	if err := e.vAdmin.CoreV1().Pods("shop").Delete(ctx, "lonely", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitHostPodGone(ctx, t, "shop", "lonely")

	// Running on a node: graceful deletion, as with a kubelet.
	setRunning(ctx, t, e, "web", "10.244.1.5", 0)
	if err := e.vAdmin.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](17)}); err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, "shop", "web", func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	if g := hp.DeletionGracePeriodSeconds; g == nil || *g != 17 {
		t.Errorf("host pod deleted with grace %v, want 17", g)
	}
	if _, err := e.vAdmin.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("virtual pod gone before its host pod: %v", err)
	}
	// The host kubelet finishes.
	if err := e.hostAdmin.CoreV1().Pods(hostNS).Delete(ctx, hp.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "virtual pod removed", func(ctx context.Context) (bool, error) {
		_, err := e.vAdmin.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(ctx, t, "token secret and configmap copy collected", func(ctx context.Context) (bool, error) {
		_, err1 := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, pods.TokenSecretName(e.tr, "shop", "web"), metav1.GetOptions{})
		_, err2 := e.hostAdmin.CoreV1().ConfigMaps(hostNS).Get(ctx, e.tr.HostName("shop", "web-config"), metav1.GetOptions{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), nil
	})
}

func testOrphans(ctx context.Context, t *testing.T, e *syncEnv) {
	ghost := testPod("shop", "ghost")
	ghost.UID = "00000000-0000-0000-0000-000000000001"
	h1 := &corev1.Pod{ObjectMeta: e.tr.HostMeta(ghost), Spec: ghost.Spec}
	h2 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unrecorded", Labels: map[string]string{translate.LabelManagedBy: syncTenant}}, Spec: ghost.Spec}
	h3 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Labels: map[string]string{translate.LabelManagedBy: "other"}}, Spec: ghost.Spec}
	for _, p := range []*corev1.Pod{h1, h2, h3} {
		if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{h1.Name, h2.Name} {
		eventually(ctx, t, "orphan "+name+" deleted", func(ctx context.Context) (bool, error) {
			_, err := e.hostAdmin.CoreV1().Pods(hostNS).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}
	if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Get(ctx, "not-ours", metav1.GetOptions{}); err != nil {
		t.Errorf("another tenant's pod was touched: %v", err)
	}
	if _, err := e.vAdmin.CoreV1().Pods("shop").Get(ctx, "ghost", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an orphan host pod brought a virtual pod into being: %v", err)
	}
}

func testRestart(ctx context.Context, t *testing.T, e *syncEnv) {
	for _, n := range []string{"reused", "gone"} {
		if _, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitHostPod(ctx, t, "shop", n, nil)
	}
	old, _ := e.hostPod(ctx, "shop", "reused")
	e.shutdown(t)

	// While the syncer is down: a pod is deleted, another re-created under the same name.
	for _, n := range []string{"reused", "gone"} {
		if err := e.vAdmin.CoreV1().Pods("shop").Delete(ctx, n, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	p := testPod("shop", "reused")
	p.Spec.Containers[0].Image = "busybox:2"
	vp, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	e.start()
	hp := e.waitHostPod(ctx, t, "shop", "reused", func(p *corev1.Pod) bool { return p.UID != old.UID })
	if hp.Annotations[translate.AnnotationVirtualUID] != string(vp.UID) || hp.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("host pod records UID %s image %s, want %s busybox:2", hp.Annotations[translate.AnnotationVirtualUID], hp.Spec.Containers[0].Image, vp.UID)
	}
	e.waitHostPodGone(ctx, t, "shop", "gone")
}

func testSyncedNamespaceDeletion(ctx context.Context, t *testing.T, e *syncEnv) {
	mustNamespace(ctx, t, e.vAdmin, "temp")
	waitServiceAccount(ctx, t, e.vAdmin, "temp")
	if _, err := e.vAdmin.CoreV1().Secrets("temp").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := testPod("temp", "job")
	p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}}}
	if _, err := e.vAdmin.CoreV1().Pods("temp").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitHostPod(ctx, t, "temp", "job", nil)
	sel := translate.LabelVirtualNamespace + "=temp"
	eventually(ctx, t, "host copy of the secret", func(ctx context.Context) (bool, error) {
		_, err := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, e.tr.HostName("temp", "creds"), metav1.GetOptions{})
		return err == nil, err
	})
	if err := e.vAdmin.CoreV1().Namespaces().Delete(ctx, "temp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "every host object of namespace temp gone", func(ctx context.Context) (bool, error) {
		ps, err := e.hostAdmin.CoreV1().Pods(hostNS).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		ss, err := e.hostAdmin.CoreV1().Secrets(hostNS).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		return len(ps.Items) == 0 && len(ss.Items) == 0, nil
	})
	eventually(ctx, t, "virtual namespace gone", func(ctx context.Context) (bool, error) {
		_, err := e.vAdmin.CoreV1().Namespaces().Get(ctx, "temp", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
