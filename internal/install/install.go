// Package install builds the host objects `kplex install` applies: the VirtualCluster CRD,
// namespace kplex-system, the operator's identity and rights, the syncer's shared
// ClusterRoles and the operator Deployment. It is pure (no clients, no I/O) and does not
// link k8s.io/kubernetes, so the small kplex CLI can use it.
package install

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/api/v1alpha1/crd"
	"github.com/kplex-dev/kplex/internal/devhost/image"
	"github.com/kplex-dev/kplex/internal/syncer"
)

// Names of the objects install creates. The operator refers to the syncer's ClusterRoles by
// these names.
const (
	Namespace      = "kplex-system"
	OperatorName   = "kplex-operator"
	OperatorRole   = "kplex:operator"
	SyncerCluster  = "kplex:syncer"           // cluster-wide reads of every tenant's syncer
	SyncerInTenant = "kplex:syncer:namespace" // the syncer's rights, bound in its namespace only
	// Sleeper is what the operator needs in a tenant's namespace to put it to sleep (remove
	// its host pods) and to read its last activity; bound there only, by the operator.
	Sleeper = "kplex:sleeper"
	// HealthPort serves the operator's /healthz and /readyz.
	HealthPort = 8081
	// GatewayName is the Service in front of the gateway that every operator replica
	// serves on GatewayPort: the always-on entry of the tenants' gateway kubeconfigs.
	GatewayName        = "kplex-gateway"
	GatewayPort        = 8443
	GatewayServicePort = 443
	// LabelPartOf marks every object install creates, so that they can be found again.
	LabelPartOf = "app.kubernetes.io/part-of"
)

// DefaultImage is the kplexd image kplex-devhost builds and loads: with it, `kplex install`
// works on the devhost without flags.
const DefaultImage = image.KplexdRef

// Options parameterise the installation. The zero value is the devhost installation.
type Options struct {
	// Image of kplexd for the operator and, unless a VirtualCluster names another one, for
	// every control plane. Default DefaultImage.
	Image string
	// IngressControllerNamespaces and IngressControllerSelector say where the host's
	// ingress controllers run (the operator's --ingress-controller-namespace and
	// --ingress-controller-selector); none: the tenants' Ingresses open nothing.
	IngressControllerNamespaces []string
	IngressControllerSelector   string
	// NetworkGateProbe is the operator's --network-gate-probe (empty: its default).
	NetworkGateProbe string
}

// Objects returns every object to apply, in an order that can be applied one after the
// other (the CRD and namespace first). Each has its apiVersion and kind set.
func Objects(opts Options) ([]client.Object, error) {
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	c, err := crd.VirtualClusters()
	if err != nil {
		return nil, err
	}
	objs := []client.Object{
		c,
		namespace(),
		syncerClusterRole(),
		syncerNamespaceRole(),
		sleeperRole(),
		syncerGuardPolicy(),
		syncerGuardBinding(),
		operatorClusterRole(),
		operatorRole(),
		serviceAccount(),
		operatorClusterRoleBinding(),
		operatorRoleBinding(),
		deployment(opts),
		gatewayService(),
	}
	for _, o := range objs {
		if o.GetObjectKind().GroupVersionKind().Kind == "" {
			return nil, fmt.Errorf("install object %s has no kind", o.GetName())
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelPartOf] = "kplex"
		o.SetLabels(labels)
	}
	return objs, nil
}

func namespace() *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// syncerClusterRole is what every tenant's syncer reads cluster-wide (one per host; each
// tenant gets a ClusterRoleBinding to it).
func syncerClusterRole() *rbacv1.ClusterRole {
	cr := syncer.HostClusterRole(SyncerCluster)
	cr.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	return cr
}

// syncerNamespaceRole holds the rules of syncer.HostRole as a ClusterRole that the operator
// binds with a RoleBinding in each tenant's namespace (so the rights stay in that
// namespace). Binding one named ClusterRole lets the operator hold only the `bind` verb on
// it, instead of every right the syncer has in every namespace: RBAC lets a subject create
// a Role only with rights it holds itself, and `escalate` cannot be limited to a name when
// creating.
func syncerNamespaceRole() *rbacv1.ClusterRole {
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: SyncerInTenant},
		Rules:      syncer.HostRole("", "").Rules,
	}
	cr.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	return cr
}

// sleeperRole: the tenant's host pods (what sleep removes) and its activity Lease (when
// it was last used). The operator binds it to itself in each tenant's namespace, so that it
// holds no pod rights anywhere else.
func sleeperRole() *rbacv1.ClusterRole {
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: Sleeper},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete", "deletecollection"}},
			{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"get"}, ResourceNames: []string{syncer.ActivityLease}},
		},
	}
	cr.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	return cr
}

// operatorClusterRole is what the operator does in every tenant's namespace. Namespaces are
// created on demand, so these rights cannot be namespaced; where Kubernetes allows it
// (everything but create, list and watch), Secrets are limited to the two names the
// operator writes.
func operatorClusterRole() *rbacv1.ClusterRole {
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: OperatorRole},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"virtualclusters"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"virtualclusters/status"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"virtualclusters/finalizers"}, Verbs: []string{"update"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces", "serviceaccounts", "services"}, Verbs: rw},
			// The isolation objects of each tenant's namespace.
			{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: rw},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: rw},
			// The syncers' Ingresses, whose backends the ingress controllers may reach; deleted
			// when the tenant may no longer have them.
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "list", "watch", "delete"}},
			// Where the host API server listens (default/kubernetes): the only address the
			// control planes' policy lets them reach on the host.
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get"}, ResourceNames: []string{"kubernetes"}},
			{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: rw},
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings", "clusterrolebindings"}, Verbs: rw},
			// The tenant's bindings refer to the syncer's ClusterRoles; `bind` on exactly
			// these lets the operator grant them without holding their rights.
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: []string{SyncerCluster, SyncerInTenant, Sleeper}},
			// The copy of an external datastore's DSN and the published kubeconfig.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update", "patch", "delete"}, ResourceNames: []string{DatastoreSecret, KubeconfigSecret}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			// The host's service range, split into one block per tenant.
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"servicecidrs"}, Verbs: []string{"get"}, ResourceNames: []string{"kubernetes"}},
		},
	}
	cr.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	return cr
}

// Names of the Secrets in a tenant's host namespace.
const (
	// DatastoreSecret is the operator's copy of an external datastore's DSN.
	DatastoreSecret = "kplex-datastore"
	// KubeconfigSecret is the tenant's admin kubeconfig, published by the control plane.
	KubeconfigSecret = "kplex-kubeconfig"
)

// operatorRole is what the operator does in its own namespace: leader election, and reading
// the Secrets that name external datastores.
func operatorRole() *rbacv1.Role {
	r := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: OperatorRole},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	r.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("Role"))
	return r
}

func serviceAccount() *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: OperatorName}}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	return sa
}

// OperatorSubject is the operator's identity, also for the bindings it makes to itself.
func OperatorSubject() []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: Namespace, Name: OperatorName}}
}

func operatorClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: OperatorRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: OperatorRole},
		Subjects:   OperatorSubject(),
	}
	b.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"))
	return b
}

func operatorRoleBinding() *rbacv1.RoleBinding {
	b := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: OperatorRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: OperatorRole},
		Subjects:   OperatorSubject(),
	}
	b.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding"))
	return b
}

// RestrictedSecurityContext is a container security context that Pod Security "restricted"
// admits, for kplexd's non-root user and a read-only root filesystem.
func RestrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(int64(image.NonRootUID)),
		RunAsGroup:               ptr.To(int64(image.NonRootUID)),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func deployment(opts Options) *appsv1.Deployment {
	img := opts.Image
	labels := operatorLabels()
	args := []string{
		"operator",
		"--leader-elect=true",
		"--leader-election-namespace=" + Namespace,
		"--default-image=" + img,
		fmt.Sprintf("--health-probe-bind-address=:%d", HealthPort),
		fmt.Sprintf("--gateway-address=:%d", GatewayPort),
	}
	for _, ns := range opts.IngressControllerNamespaces {
		args = append(args, "--ingress-controller-namespace="+ns)
	}
	if opts.IngressControllerSelector != "" {
		args = append(args, "--ingress-controller-selector="+opts.IngressControllerSelector)
	}
	if opts.NetworkGateProbe != "" {
		args = append(args, "--network-gate-probe="+opts.NetworkGateProbe)
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromInt32(HealthPort)}}, PeriodSeconds: 10}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: OperatorName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// Leader election makes a second replica wait; Recreate avoids two during updates.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: OperatorName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "operator",
						Image:           img,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            args,
						Ports: []corev1.ContainerPort{
							{Name: "health", ContainerPort: HealthPort},
							{Name: gatewayPortName, ContainerPort: GatewayPort, Protocol: corev1.ProtocolTCP},
						},
						LivenessProbe:   probe("/healthz"),
						ReadinessProbe:  probe("/readyz"),
						SecurityContext: RestrictedSecurityContext(),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
						},
					}},
				},
			},
		},
	}
	d.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	return d
}

const gatewayPortName = "gateway"

// GatewayURL is the gateway's in-cluster URL, the server of the tenants' gateway
// kubeconfigs.
func GatewayURL() string {
	return fmt.Sprintf("https://%s.%s.svc:%d", GatewayName, Namespace, GatewayServicePort)
}

// gatewayService fronts the gateway of every operator replica: the gateway serves on each,
// not only on the leader, so a leader election never interrupts the tenants' entry.
func gatewayService() *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: GatewayName},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: operatorLabels(),
			Ports: []corev1.ServicePort{{Name: "https", Port: GatewayServicePort, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString(gatewayPortName)}},
		},
	}
	svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
	return svc
}

func operatorLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": OperatorName}
}
