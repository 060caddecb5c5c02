package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestControlPlaneActsLikeACluster exercises what a tenant expects of a real cluster.
func TestControlPlaneActsLikeACluster(t *testing.T) {
	onEachDatastore(t, func(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) {
		cs := cp.Client()

		t.Run("namespaces and RBAC", func(t *testing.T) { testRBAC(ctx, t, cp, cs) })
		t.Run("CRD and custom resource", func(t *testing.T) { testCRD(ctx, t, cp) })
		t.Run("deployment gets replicaset and pending pods", func(t *testing.T) { testDeployment(ctx, t, cs) })
		t.Run("token request", func(t *testing.T) { testTokenRequest(ctx, t, cs) })
		t.Run("namespace deletion empties it", func(t *testing.T) { testNamespaceDeletion(ctx, t, cs) })
		t.Run("aggregated API registration", func(t *testing.T) { testAggregation(ctx, t, cp) })
		t.Run("resource quota usage is counted", func(t *testing.T) { testQuotaUsage(ctx, t, cs) })
		// A controller whose informer cannot list (an API left out of the virtual profile
		// that it needs) retries forever and never syncs.
		for _, line := range strings.Split(string(cp.Log()), "\n") {
			if strings.Contains(line, "Failed to watch") {
				t.Errorf("a component cannot watch a resource it needs: %s", line)
			}
		}
	})
}

func mustNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// userClient signs a client certificate for a user with no bindings, as an admin would.
func userClient(t *testing.T, cp *testenv.ControlPlane, user string) kubernetes.Interface {
	t.Helper()
	certPEM, keyPEM, err := pki.SignClient(&pki.Bundle{Dir: cp.DataDir + "/pki"}, user, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rest.Config{Host: cp.URL(), TLSClientConfig: rest.TLSClientConfig{CAFile: cp.DataDir + "/pki/ca.crt", CertData: certPEM, KeyData: keyPEM}}
	return kubernetes.NewForConfigOrDie(rc)
}

func testRBAC(ctx context.Context, t *testing.T, cp *testenv.ControlPlane, cs kubernetes.Interface) {
	mustNamespace(ctx, t, cs, "team")
	alice := userClient(t, cp, "alice")
	if _, err := alice.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user listing configmaps: got %v, want 403 Forbidden", err)
	}
	if _, err := alice.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user listing namespaces: got %v, want 403 Forbidden", err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-reader", Namespace: "team"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}
	if _, err := cs.RbacV1().Roles("team").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-reads", Namespace: "team"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-reader"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "alice"}}}
	if _, err := cs.RbacV1().RoleBindings("team").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := alice.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("bound user still cannot list configmaps")
	}
	if _, err := alice.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("role grants configmaps only, secrets list: got %v, want 403", err)
	}
}

func testCRD(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) {
	rc := cp.RESTConfig()
	ext := apiextclient.NewForConfigOrDie(rc)
	crd := &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextv1.NamespaceScoped,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object",
					Properties: map[string]apiextv1.JSONSchemaProps{"spec": {Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
						"size": {Type: "integer", Minimum: ptr.To(1.0)}}}}}}}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	dyn := dynamic.NewForConfigOrDie(rc)
	mk := func(name string, size int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"size": size}}}
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace("default").Create(ctx, mk("w1", 3), metav1.CreateOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("custom resource never accepted")
	}
	got, err := dyn.Resource(gvr).Namespace("default").Get(ctx, "w1", metav1.GetOptions{})
	if err != nil || got.Object["spec"].(map[string]any)["size"] != int64(3) {
		t.Fatalf("get widget: %v %v", got, err)
	}
	if _, err := dyn.Resource(gvr).Namespace("default").Create(ctx, mk("w2", 0), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("schema violation: got %v, want Invalid", err)
	}
}

func testDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	mustNamespace(ctx, t, cs, "apps")
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "kplex/testbox:v1"}}}}}}
	podsecurity.Restrict(&d.Spec.Template.Spec)
	if _, err := cs.AppsV1().Deployments("apps").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods *corev1.PodList
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		rs, err := cs.AppsV1().ReplicaSets("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(rs.Items) != 1 {
			return false, nil
		}
		pods, err = cs.CoreV1().Pods("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		return err == nil && len(pods.Items) == 2, nil
	})
	if err != nil {
		t.Fatalf("deployment did not get 1 ReplicaSet and 2 Pods: %v", err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
			t.Errorf("pod %s: phase %s node %q; want Pending and unscheduled (no scheduler in a virtual cluster)", p.Name, p.Status.Phase, p.Spec.NodeName)
		}
	}
}

func testTokenRequest(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	var sa *corev1.ServiceAccount
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		sa, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("default service account never created by the controller manager")
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa.Name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil || tr.Status.Token == "" {
		t.Fatalf("create token: %v", err)
	}
	rev, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: tr.Status.Token}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rev.Status.Authenticated || rev.Status.User.Username != "system:serviceaccount:default:default" {
		t.Fatalf("token review: %+v", rev.Status)
	}
	bad, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: tr.Status.Token + "x"}}, metav1.CreateOptions{})
	if err != nil || bad.Status.Authenticated {
		t.Fatalf("tampered token authenticated: %+v %v", bad.Status, err)
	}
}

func testNamespaceDeletion(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	mustNamespace(ctx, t, cs, "doomed")
	for _, n := range []string{"a", "b", "c"} {
		if _, err := cs.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatal("namespace deletion never completed")
	}
	if cms, err := cs.CoreV1().ConfigMaps("doomed").List(ctx, metav1.ListOptions{}); err != nil || len(cms.Items) != 0 {
		t.Fatalf("configmaps left after namespace deletion: %v %v", cms, err)
	}
}

// testAggregation checks the aggregation layer serves and registers APIServices; a real
// extension server behind it is exercised by the end-to-end tests on the devhost.
func testAggregation(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) {
	dyn := dynamic.NewForConfigOrDie(cp.RESTConfig())
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	svc, err := dyn.Resource(gvr).Get(ctx, "v1.apps", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("APIService v1.apps: %v", err)
	}
	if svc.GetName() != "v1.apps" {
		t.Fatalf("unexpected APIService %s", svc.GetName())
	}
}

// testQuotaUsage: the resource-quota controller computes usage, which it only does once
// every informer it needs (ResourceClaims and DeviceClasses among them) has synced.
func testQuotaUsage(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	mustNamespace(ctx, t, cs, "quota")
	if _, err := cs.CoreV1().ConfigMaps("quota").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/configmaps": resource.MustParse("10")}}}
	if _, err := cs.CoreV1().ResourceQuotas("quota").Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var used resource.Quantity
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().ResourceQuotas("quota").Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used = got.Status.Used["count/configmaps"]
		return used.Value() >= 1, nil // the namespace's kube-root-ca.crt counts too
	})
	if err != nil {
		t.Fatalf("quota usage never computed (used %s): the resource-quota controller did not sync: %v", used.String(), err)
	}
}
