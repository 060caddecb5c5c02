package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/servicerange"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// operatorEnv is a host API server with `kplex install` applied and `kplexd operator`
// running under the operator's own service account (so its RBAC is what is tested).
type operatorEnv struct {
	host *testenv.ControlPlane
	c    client.Client // host admin
	kc   string        // the operator's kubeconfig
	op   *exec.Cmd
	t    *testing.T
	args []string // more flags of kplexd operator
}

// newOperatorEnv starts the operator with args added to the flags every test gives it.
func newOperatorEnv(ctx context.Context, t *testing.T, args ...string) *operatorEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	host, c := installedHost(ctx, t)
	kc := kubeconfigFile(t, operatorConfig(ctx, t, host))
	e := &operatorEnv{host: host, c: c, kc: kc, t: t, args: args}
	e.startOperator()
	return e
}

// installedHost starts a host API server with `kplex install` applied; it returns it and an
// admin client that knows VirtualClusters.
func installedHost(ctx context.Context, t *testing.T) (*testenv.ControlPlane, client.Client) {
	t.Helper()
	host := testenv.NewControlPlane(t, "--profile", "host")
	host.Start(ctx)
	installKplex(ctx, t, host.RESTConfig())
	scheme, err := operator.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(host.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return host, c
}

// operatorConfig is the host as the operator's service account, whose RBAC `kplex install`
// set up.
func operatorConfig(ctx context.Context, t *testing.T, host *testenv.ControlPlane) *rest.Config {
	t.Helper()
	tok, err := host.Client().CoreV1().ServiceAccounts(install.Namespace).CreateToken(ctx, install.OperatorName,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of the operator's service account: %v", err)
	}
	return &rest.Config{Host: host.URL(), BearerToken: tok.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(host.DataDir, "pki", "ca.crt")}}
}

// startOperator runs `kplexd operator` as the operator's service account.
func (e *operatorEnv) startOperator() {
	e.t.Helper()
	logPath := filepath.Join(e.t.TempDir(), "operator.log")
	f, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.op = exec.Command(testenv.Binary(e.t, "kplexd"), append([]string{"operator", "--kubeconfig", e.kc,
		"--default-image=localhost/kplex/kplexd:test", "--health-probe-bind-address=0", "--leader-elect=true",
		"--gateway-address=127.0.0.1:0"}, e.args...)...)
	e.op.Stdout, e.op.Stderr = f, f
	if err := e.op.Start(); err != nil {
		e.t.Fatalf("start operator: %v", err)
	}
	op := e.op
	e.t.Cleanup(func() {
		op.Process.Kill()
		op.Wait()
		if e.t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			e.t.Logf("--- operator log ---\n%s", b)
		}
	})
}

// killOperator kills the operator hard, as a node failure would.
func (e *operatorEnv) killOperator() {
	e.op.Process.Kill()
	e.op.Wait()
}

func (e *operatorEnv) create(ctx context.Context, name string, spec v1alpha1.VirtualClusterSpec) {
	e.t.Helper()
	if spec.Datastore.Type == "" {
		spec.Datastore.Type = v1alpha1.DatastoreEmbedded
	}
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := e.c.Create(ctx, vc); err != nil {
		e.t.Fatalf("create virtual cluster %s: %v", name, err)
	}
}

// waitFor polls cond until it holds; it fails the test with cond's last explanation.
func (e *operatorEnv) waitFor(ctx context.Context, what string, timeout time.Duration, cond func(ctx context.Context) (bool, string)) {
	e.t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, why := cond(ctx)
		last = why
		return ok, nil
	})
	if err != nil {
		e.t.Fatalf("%s: %v; last: %s", what, err, last)
	}
}

func (e *operatorEnv) get(ctx context.Context, name string) *v1alpha1.VirtualCluster {
	e.t.Helper()
	vc := &v1alpha1.VirtualCluster{}
	if err := e.c.Get(ctx, types.NamespacedName{Name: name}, vc); err != nil {
		e.t.Fatalf("get virtual cluster %s: %v", name, err)
	}
	return vc
}

// waitCondition waits until the VirtualCluster's condition has the status and reason.
func (e *operatorEnv) waitCondition(ctx context.Context, name, condType string, status metav1.ConditionStatus, reason string, phase v1alpha1.Phase) *v1alpha1.VirtualCluster {
	e.t.Helper()
	var vc *v1alpha1.VirtualCluster
	e.waitFor(ctx, fmt.Sprintf("virtual cluster %s: %s=%s (%s), phase %s", name, condType, status, reason, phase), time.Minute, func(ctx context.Context) (bool, string) {
		vc = e.get(ctx, name)
		c := meta.FindStatusCondition(vc.Status.Conditions, condType)
		if c == nil {
			return false, fmt.Sprintf("no %s condition; status %+v", condType, vc.Status)
		}
		return c.Status == status && c.Reason == reason && vc.Status.Phase == phase && vc.Status.ObservedGeneration == vc.Generation,
			fmt.Sprintf("phase %s, %s=%s reason %s: %s", vc.Status.Phase, condType, c.Status, c.Reason, c.Message)
	})
	return vc
}

// hostObjectCount is the length of hostObjectsOf's list: every host object of a tenant.
const hostObjectCount = 15

// hostObjectsOf lists what exists on the host for the virtual cluster called name.
func (e *operatorEnv) hostObjectsOf(ctx context.Context, name string) []string {
	e.t.Helper()
	ns := v1alpha1.HostNamespace(name)
	var out []string
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: operator.ClusterBindingName(name)}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.ControlPlaneName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.ServiceName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.DNSServiceName}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.ControlPlaneName}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.SyncerBinding}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.SleeperBinding}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.QuotaName}},
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.LimitRangeName}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyDefaultDeny}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyTenantPods}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyTenantIngress}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyTenantEgress}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyControlPlane}},
	} {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(o), o)
		switch {
		case err == nil:
			out = append(out, fmt.Sprintf("%T %s", o, o.GetName()))
		case !apierrors.IsNotFound(err):
			e.t.Fatalf("get %T %s: %v", o, o.GetName(), err)
		}
	}
	return out
}

// TestOperatorProvisionsAndDeletes: a VirtualCluster becomes its host objects, with the
// operator on exactly its installed rights; the status says truthfully what it waits for
// (no kubelet runs here, so the control-plane pod never starts); spec changes roll out; a
// killed operator converges; deletion removes every host object and touches no other
// tenant's.
func TestOperatorProvisionsAndDeletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newOperatorEnv(ctx, t)

	e.create(ctx, "a", v1alpha1.VirtualClusterSpec{})
	e.create(ctx, "b", v1alpha1.VirtualClusterSpec{Expose: v1alpha1.Expose{Type: v1alpha1.ExposeNodePort}})
	for _, name := range []string{"a", "b"} {
		vc := e.waitCondition(ctx, name, v1alpha1.ConditionControlPlane, metav1.ConditionFalse, v1alpha1.ReasonControlPlaneStarting, v1alpha1.PhaseProvisioning)
		if !slices.Contains(vc.Finalizers, operator.Finalizer) {
			t.Errorf("%s: no finalizer: %v", name, vc.Finalizers)
		}
		if c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonControlPlaneStarting {
			t.Errorf("%s: Ready condition %+v, want False with reason %s", name, c, v1alpha1.ReasonControlPlaneStarting)
		}
		if c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionKubeconfig); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("%s: KubeconfigPublished %+v, want False", name, c)
		}
		if vc.Status.Endpoint != "https://kplex-apiserver.kplex-"+name+".svc:443" || vc.Status.HostNamespace != "kplex-"+name || vc.Status.KubeconfigSecret != nil {
			t.Errorf("%s: status %+v", name, vc.Status)
		}
		if got := e.hostObjectsOf(ctx, name); len(got) != hostObjectCount {
			t.Errorf("%s: host objects %v, want all %d", name, got, hostObjectCount)
		}
	}

	ns := &corev1.Namespace{}
	if err := e.c.Get(ctx, types.NamespacedName{Name: "kplex-a"}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" || ns.Labels[operator.LabelTenant] != "a" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	svc := &corev1.Service{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "kplex-b", Name: operator.ServiceName}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.ClusterIP == "" {
		t.Errorf("b's service: type %s clusterIP %q", svc.Spec.Type, svc.Spec.ClusterIP)
	}
	sts := &appsv1.StatefulSet{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "kplex-b", Name: operator.ControlPlaneName}, sts); err != nil {
		t.Fatal(err)
	}
	args := sts.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--tenant-api-host="+svc.Spec.ClusterIP+":443") || !slices.Contains(args, "--tls-san="+svc.Spec.ClusterIP) {
		t.Errorf("statefulset args %v lack the service's cluster IP %s", args, svc.Spec.ClusterIP)
	}
	dnsSvc := &corev1.Service{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "kplex-b", Name: operator.DNSServiceName}, dnsSvc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "--tenant-dns-ip="+dnsSvc.Spec.ClusterIP) || dnsSvc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("statefulset args %v lack the DNS service's cluster IP %s (type %s)", args, dnsSvc.Spec.ClusterIP, dnsSvc.Spec.Type)
	}
	t.Run("each tenant has its own block of the host's service range", func(t *testing.T) {
		blocks := map[string]string{}
		for _, name := range []string{"a", "b"} {
			ns := &corev1.Namespace{}
			if err := e.c.Get(ctx, types.NamespacedName{Name: v1alpha1.HostNamespace(name)}, ns); err != nil {
				t.Fatal(err)
			}
			block, err := netip.ParsePrefix(ns.Annotations[operator.AnnotationServiceCIDR])
			if err != nil {
				t.Fatalf("%s: no service block on its namespace: %v", name, err)
			}
			blocks[name] = block.String()
			api, dns := &corev1.Service{}, &corev1.Service{}
			for svcName, svc := range map[string]*corev1.Service{operator.ServiceName: api, operator.DNSServiceName: dns} {
				if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: svcName}, svc); err != nil {
					t.Fatal(err)
				}
			}
			if want := block.Addr().Next().String(); api.Spec.ClusterIP != want {
				t.Errorf("%s: API service at %s, want %s (the block's first address, as the virtual kubernetes Service)", name, api.Spec.ClusterIP, want)
			}
			if want := servicerange.ControlPlaneIP(block).String(); dns.Spec.ClusterIP != want {
				t.Errorf("%s: DNS service at %s, want %s", name, dns.Spec.ClusterIP, want)
			}
			sts := &appsv1.StatefulSet{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: operator.ControlPlaneName}, sts); err != nil {
				t.Fatal(err)
			}
			if args := sts.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--service-cidr="+block.String()) {
				t.Errorf("%s: control plane args %v lack --service-cidr=%s", name, args, block)
			}
		}
		if blocks["a"] == blocks["b"] {
			t.Errorf("a and b share service block %s", blocks["a"])
		}
	})
	if img := sts.Spec.Template.Spec.Containers[0].Image; img != "localhost/kplex/kplexd:test" {
		t.Errorf("image %q, want the operator's default", img)
	}

	t.Run("spec change rolls out", func(t *testing.T) {
		e.rolledOut(ctx, "a")
		if err := e.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-a", Name: install.KubeconfigSecret},
			Data: map[string][]byte{v1alpha1.KubeconfigSecretKey: []byte("apiVersion: v1")}}); err != nil {
			t.Fatal(err)
		}
		e.waitCondition(ctx, "a", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, v1alpha1.PhaseReady)

		// Several changes, because the operator's cache lags the StatefulSet it has just
		// applied only for a moment: each change is a chance to see a stale Ready.
		for i, level := range []v1alpha1.PodSecurityLevel{v1alpha1.PodSecurityBaseline, v1alpha1.PodSecurityRestricted, v1alpha1.PodSecurityBaseline} {
			image := fmt.Sprintf("localhost/kplex/kplexd:v%d", i+2)
			e.changeSpec(ctx, "a", func(spec *v1alpha1.VirtualClusterSpec) {
				spec.ControlPlane.Image, spec.Isolation.PodSecurity = image, level
			})
			sts := &appsv1.StatefulSet{}
			ns := &corev1.Namespace{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: "kplex-a", Name: operator.ControlPlaneName}, sts); err != nil {
				t.Fatal(err)
			}
			if err := e.c.Get(ctx, types.NamespacedName{Name: "kplex-a"}, ns); err != nil {
				t.Fatal(err)
			}
			if img, got := sts.Spec.Template.Spec.Containers[0].Image, ns.Labels["pod-security.kubernetes.io/enforce"]; img != image || got != string(level) {
				t.Errorf("a's statefulset runs %s and its namespace enforces %s; want %s and %s", img, got, image, level)
			}
			e.rolledOut(ctx, "a")
			e.waitCondition(ctx, "a", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, v1alpha1.PhaseReady)
		}
	})

	t.Run("namespace of somebody else is never adopted", func(t *testing.T) {
		mustNamespace(ctx, t, e.host.Client(), "kplex-taken")
		e.create(ctx, "taken", v1alpha1.VirtualClusterSpec{})
		e.waitCondition(ctx, "taken", v1alpha1.ConditionHostObjects, metav1.ConditionFalse, v1alpha1.ReasonNamespaceConflict, v1alpha1.PhaseFailed)
		if err := e.c.Delete(ctx, &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "taken"}}); err != nil {
			t.Fatal(err)
		}
		e.waitGone(ctx, "taken")
		if err := e.c.Get(ctx, types.NamespacedName{Name: "kplex-taken"}, &corev1.Namespace{}); err != nil {
			t.Fatalf("the foreign namespace must survive the virtual cluster's deletion: %v", err)
		}
	})

	t.Run("external datastore waits for its secret", func(t *testing.T) {
		e.create(ctx, "ext", v1alpha1.VirtualClusterSpec{Datastore: v1alpha1.Datastore{Type: v1alpha1.DatastoreExternal,
			External: &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: "ext-dsn", Key: "dsn"}}}})
		vc := e.waitCondition(ctx, "ext", v1alpha1.ConditionHostObjects, metav1.ConditionFalse, v1alpha1.ReasonDatastoreSecretMissing, v1alpha1.PhaseFailed)
		if msg := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionHostObjects).Message; !strings.Contains(msg, "kplex-system/ext-dsn") {
			t.Errorf("message %q does not name the Secret", msg)
		}
		dsn := "postgres://kplex:secret@db.example:5432/ext"
		if err := e.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: install.Namespace, Name: "ext-dsn"},
			Data: map[string][]byte{"dsn": []byte(dsn)}}); err != nil {
			t.Fatal(err)
		}
		e.waitCondition(ctx, "ext", v1alpha1.ConditionControlPlane, metav1.ConditionFalse, v1alpha1.ReasonControlPlaneStarting, v1alpha1.PhaseProvisioning)
		copied := &corev1.Secret{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: "kplex-ext", Name: install.DatastoreSecret}, copied); err != nil {
			t.Fatal(err)
		}
		if string(copied.Data["dsn"]) != dsn {
			t.Errorf("copied DSN %q", copied.Data["dsn"])
		}
	})

	t.Run("killed operator converges", func(t *testing.T) {
		e.killOperator()
		e.create(ctx, "c", v1alpha1.VirtualClusterSpec{})
		e.startOperator()
		e.waitCondition(ctx, "c", v1alpha1.ConditionControlPlane, metav1.ConditionFalse, v1alpha1.ReasonControlPlaneStarting, v1alpha1.PhaseProvisioning)
		// Killed again right after the first objects appear, then restarted.
		e.create(ctx, "d", v1alpha1.VirtualClusterSpec{})
		e.waitFor(ctx, "d's namespace", 30*time.Second, func(ctx context.Context) (bool, string) {
			err := e.c.Get(ctx, types.NamespacedName{Name: "kplex-d"}, &corev1.Namespace{})
			return err == nil, fmt.Sprint(err)
		})
		e.killOperator()
		e.startOperator()
		e.waitCondition(ctx, "d", v1alpha1.ConditionControlPlane, metav1.ConditionFalse, v1alpha1.ReasonControlPlaneStarting, v1alpha1.PhaseProvisioning)
		if got := e.hostObjectsOf(ctx, "d"); len(got) != hostObjectCount {
			t.Errorf("d: host objects %v, want all %d", got, hostObjectCount)
		}
	})

	t.Run("delete removes every host object and nothing else", func(t *testing.T) {
		if err := e.c.Delete(ctx, &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}); err != nil {
			t.Fatal(err)
		}
		e.waitGone(ctx, "a")
		if got := e.hostObjectsOf(ctx, "a"); len(got) != 0 {
			t.Errorf("left behind after deleting a: %v", got)
		}
		if got := e.hostObjectsOf(ctx, "b"); len(got) != hostObjectCount {
			t.Errorf("b touched by a's deletion: host objects %v", got)
		}
		if vc := e.get(ctx, "b"); vc.DeletionTimestamp != nil || vc.Status.Phase != v1alpha1.PhaseProvisioning {
			t.Errorf("b: %+v", vc.Status)
		}
	})
}

// changeSpec changes the spec of the virtual cluster called name and watches its status
// until it reports the control plane starting at the new generation. No status in between
// may call the new spec Ready: GitOps tools and kplex's own waits read Ready at the
// observed generation as "this spec runs".
func (e *operatorEnv) changeSpec(ctx context.Context, name string, change func(*v1alpha1.VirtualClusterSpec)) {
	e.t.Helper()
	vc := e.get(ctx, name)
	w, err := e.c.(client.WithWatch).Watch(ctx, &v1alpha1.VirtualClusterList{}, client.MatchingFields{"metadata.name": name},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: vc.ResourceVersion}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer w.Stop()
	change(&vc.Spec)
	if err := e.c.Update(ctx, vc); err != nil {
		e.t.Fatal(err)
	}
	timeout := time.After(time.Minute)
	for {
		var got *v1alpha1.VirtualCluster
		select {
		case ev := <-w.ResultChan():
			got, _ = ev.Object.(*v1alpha1.VirtualCluster)
		case <-timeout:
		}
		if got == nil {
			e.t.Fatalf("virtual cluster %s: no status for generation %d with the control plane starting", name, vc.Generation)
		}
		if got.Status.ObservedGeneration != vc.Generation {
			continue
		}
		if got.Status.Phase == v1alpha1.PhaseReady {
			e.t.Fatalf("virtual cluster %s: generation %d reported Ready before its control plane rolled out: %+v", name, vc.Generation, got.Status.Conditions)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionControlPlane); c != nil && c.Reason == v1alpha1.ReasonControlPlaneStarting {
			return
		}
	}
}

// rolledOut plays the kubelet for the control plane of the virtual cluster called name:
// once the StatefulSet controller has made the pod of the current revision (this host has
// no node to run it), the pod is reported running and ready.
func (e *operatorEnv) rolledOut(ctx context.Context, name string) {
	e.t.Helper()
	ns := v1alpha1.HostNamespace(name)
	pod := &corev1.Pod{}
	e.waitFor(ctx, "the control-plane pod of "+name+"'s current spec", time.Minute, func(ctx context.Context) (bool, string) {
		sts := &appsv1.StatefulSet{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName}, sts); err != nil {
			return false, err.Error()
		}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName + "-0"}, pod); err != nil {
			return false, err.Error()
		}
		rev := pod.Labels[appsv1.ControllerRevisionHashLabelKey]
		return sts.Status.ObservedGeneration == sts.Generation && rev == sts.Status.UpdateRevision && pod.DeletionTimestamp == nil,
			fmt.Sprintf("statefulset generation %d observed %d, update revision %s; pod revision %s", sts.Generation, sts.Status.ObservedGeneration, sts.Status.UpdateRevision, rev)
	})
	// The scheduler writes the pod's status too (it cannot place it): retry on conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase = corev1.PodRunning
		kept := pod.Status.Conditions[:0]
		for _, c := range pod.Status.Conditions {
			if c.Type != corev1.PodReady {
				kept = append(kept, c)
			}
		}
		pod.Status.Conditions = append(kept, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return e.c.Status().Update(ctx, pod)
	})
	if err != nil {
		e.t.Fatalf("report pod %s/%s ready: %v", ns, pod.Name, err)
	}
}

// waitGone waits until the VirtualCluster is gone, which the finalizer allows only once its
// host namespace is.
func (e *operatorEnv) waitGone(ctx context.Context, name string) {
	e.t.Helper()
	e.waitFor(ctx, "virtual cluster "+name+" deleted", 2*time.Minute, func(ctx context.Context) (bool, string) {
		vc := &v1alpha1.VirtualCluster{}
		err := e.c.Get(ctx, types.NamespacedName{Name: name}, vc)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("phase %s, conditions %+v, err %v", vc.Status.Phase, vc.Status.Conditions, err)
	})
}
