package integration

import (
	"context"
	"path/filepath"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// grantSyncer prepares host namespace ns as the operator does (namespace, the syncer's
// service account, syncer.HostRole and syncer.HostClusterRole bound to it) and returns a
// configuration with that service account's token: exactly the syncer's rights.
func grantSyncer(ctx context.Context, t *testing.T, host *testenv.ControlPlane, ns, tenant string) *rest.Config {
	t.Helper()
	admin := host.Client()
	mustNamespace(ctx, t, admin, ns)
	create := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("create %s: %v", what, err)
		}
	}
	_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "syncer"}}, metav1.CreateOptions{})
	create("service account", err)
	_, err = admin.RbacV1().Roles(ns).Create(ctx, syncer.HostRole(ns, "kplex-syncer"), metav1.CreateOptions{})
	create("role", err)
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "syncer"}}
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kplex-syncer"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "kplex-syncer"}, Subjects: subject}, metav1.CreateOptions{})
	create("role binding", err)
	clusterName := "kplex-syncer-" + tenant
	_, err = admin.RbacV1().ClusterRoles().Create(ctx, syncer.HostClusterRole(clusterName), metav1.CreateOptions{})
	create("cluster role", err)
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterName},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterName}, Subjects: subject}, metav1.CreateOptions{})
	create("cluster role binding", err)
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "syncer",
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	create("token", err)
	return &rest.Config{Host: host.URL(), BearerToken: tok.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(host.DataDir, "pki", "ca.crt")}}
}

// kubeconfigFile writes cfg (token or client certificate files) as a kubeconfig, as the
// operator would mount one, and returns its path.
func kubeconfigFile(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["host"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["host"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, ClientCertificate: cfg.CertFile, ClientKey: cfg.KeyFile}
	kc.Contexts["host"] = &clientcmdapi.Context{Cluster: "host", AuthInfo: "host"}
	kc.CurrentContext = "host"
	path := filepath.Join(t.TempDir(), "host.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
