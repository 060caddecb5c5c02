package operator

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/devhost/image"
	"github.com/kplex-dev/kplex/internal/gateway"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/netgate"
)

// Names of the host objects of a virtual cluster, in its namespace kplex-<name>. The
// tenant's synced objects share the namespace; their names always end in a segment of 10
// characters whose last two are digits, or of 16 (internal/translate), so none of these
// names can be taken by a tenant.
const (
	ControlPlaneName = install.ControlPlaneServiceAccount // StatefulSet and ServiceAccount
	ServiceName      = "kplex-apiserver"
	DNSServiceName   = "kplex-dns"
	SyncerBinding    = "kplex-syncer" // RoleBinding to install.SyncerInTenant
	dataVolume       = "data"
	tmpVolume        = "tmp"
	dataDir          = "/var/lib/kplex"
	securePort       = 6443
	dnsPort          = 1053 // unprivileged; the Service publishes it on 53
	servicePort      = 443
)

// Labels on every host object the operator creates.
const (
	LabelTenant    = "kplex.dev/tenant" // the VirtualCluster's name
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "kplex-operator"
)

// defaultResources are the control plane's requests when the spec names none: measured
// idle RSS of kplexd controlplane is about 300 MB; no limit, so a busy tenant is not killed.
func defaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("320Mi"),
	}}
}

// controlPlaneResources are the spec's, or defaultResources when it names none.
func controlPlaneResources(vc *v1alpha1.VirtualCluster) corev1.ResourceRequirements {
	r := vc.Spec.ControlPlane.Resources
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return defaultResources()
	}
	return *r.DeepCopy()
}

// dataVolumeSize is the control plane's claim: the embedded datastore's size, or
// pkiVolumeSize with an external datastore.
func dataVolumeSize(vc *v1alpha1.VirtualCluster) resource.Quantity {
	if vc.Spec.Datastore.Type == v1alpha1.DatastoreExternal {
		return resource.MustParse(pkiVolumeSize)
	}
	return vc.Spec.Datastore.EmbeddedSize()
}

// pkiVolumeSize is the volume of an external datastore's control plane: certificates and
// kubeconfigs only, but they must survive restarts.
const pkiVolumeSize = "64Mi"

// ClusterBindingName is the ClusterRoleBinding of a tenant's syncer to install.SyncerCluster.
func ClusterBindingName(vc string) string { return "kplex:syncer:" + vc }

// Endpoint is the in-cluster URL of the virtual cluster's API server.
func Endpoint(vc string) string { return "https://" + ServiceAddress(vc) }

// ServiceAddress is the in-cluster host:port of the virtual cluster's API server.
func ServiceAddress(vc string) string {
	return fmt.Sprintf("%s.%s.svc:%d", ServiceName, v1alpha1.HostNamespace(vc), servicePort)
}

// ServiceKey names the Service of virtual cluster vc's API server.
func ServiceKey(vc string) types.NamespacedName {
	return types.NamespacedName{Namespace: v1alpha1.HostNamespace(vc), Name: ServiceName}
}

// ManagedSelector selects the host objects the operator made, of every virtual cluster.
func ManagedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})
}

func ownedLabels(vc string) map[string]string {
	return map[string]string{LabelTenant: vc, LabelManagedBy: managedBy}
}

func objectMeta(vc *v1alpha1.VirtualCluster, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: v1alpha1.HostNamespace(vc.Name), Name: name, Labels: ownedLabels(vc.Name)}
}

// podSecurityLevel is the spec's level, restricted by default. Both walls enforce it: the
// host namespace's Pod Security labels and the tenant API server's policy (--pod-security).
func podSecurityLevel(vc *v1alpha1.VirtualCluster) string {
	if l := vc.Spec.Isolation.PodSecurity; l != "" {
		return string(l)
	}
	return string(v1alpha1.PodSecurityRestricted)
}

// Namespace is the tenant's host namespace with Pod Security enforced at the spec's level,
// labelled LabelExposesServices while the spec lets the tenant expose Services.
func Namespace(vc *v1alpha1.VirtualCluster) *corev1.Namespace {
	level := podSecurityLevel(vc)
	l := ownedLabels(vc.Name)
	for _, mode := range []string{"enforce", "audit", "warn"} {
		l["pod-security.kubernetes.io/"+mode] = level
		l["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	if exposesServices(vc) {
		l[LabelExposesServices] = "true"
	}
	if vc.Spec.Isolation.AllowIngresses {
		l[install.NamespaceAllowsIngresses] = "true"
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.HostNamespace(vc.Name), Labels: l}}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// ServiceAccount is the control plane's host identity, which its syncer uses.
func ServiceAccount(vc *v1alpha1.VirtualCluster) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: objectMeta(vc, ControlPlaneName), AutomountServiceAccountToken: ptr.To(false)}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	return sa
}

func syncerSubject(vc *v1alpha1.VirtualCluster) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: v1alpha1.HostNamespace(vc.Name), Name: ControlPlaneName}}
}

// RoleBinding grants the syncer syncer.HostRole's rights in the tenant's namespace only.
func RoleBinding(vc *v1alpha1.VirtualCluster) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(vc, SyncerBinding),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: install.SyncerInTenant},
		Subjects:   syncerSubject(vc),
	}
	rb.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding"))
	return rb
}

// ClusterRoleBinding grants the syncer syncer.HostClusterRole's reads.
func ClusterRoleBinding(vc *v1alpha1.VirtualCluster) *rbacv1.ClusterRoleBinding {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterBindingName(vc.Name), Labels: ownedLabels(vc.Name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: install.SyncerCluster},
		Subjects:   syncerSubject(vc),
	}
	crb.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"))
	return crb
}

func selector(vc string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": ControlPlaneName, LabelTenant: vc}
}

// Service fronts the API server: port 443 to kplexd's secure port.
func Service(vc *v1alpha1.VirtualCluster) *corev1.Service {
	t := corev1.ServiceType(vc.Spec.Expose.Type)
	if t == "" {
		t = corev1.ServiceTypeClusterIP
	}
	svc := &corev1.Service{
		ObjectMeta: objectMeta(vc, ServiceName),
		Spec: corev1.ServiceSpec{
			Type:     t,
			Selector: selector(vc.Name),
			Ports: []corev1.ServicePort{{Name: "https", Port: servicePort, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(securePort)}},
		},
	}
	svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
	return svc
}

// DNSService fronts the tenant's DNS server for the tenant's pods. It is always ClusterIP:
// the tenant's names are not published outside the host cluster, whatever spec.expose says.
func DNSService(vc *v1alpha1.VirtualCluster) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: objectMeta(vc, DNSServiceName),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector(vc.Name),
			Ports: []corev1.ServicePort{
				{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(dnsPort)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(dnsPort)},
			},
		},
	}
	svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
	return svc
}

// DatastoreSecret is the copy, in the tenant's namespace, of the external datastore's DSN.
func DatastoreSecret(vc *v1alpha1.VirtualCluster, dsn []byte) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: objectMeta(vc, install.DatastoreSecret), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{datastoreKey: dsn}}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return s
}

const datastoreKey = "dsn"

// serviceNames are the DNS names of the API server's Service.
func serviceNames(vc string) []string {
	ns := v1alpha1.HostNamespace(vc)
	return []string{ServiceName, ServiceName + "." + ns, ServiceName + "." + ns + ".svc", ServiceName + "." + ns + ".svc.cluster.local"}
}

// gatewayArgs make the control plane reachable through the operator's gateway, which
// passes TLS through by server name: its serving certificate carries <vc>.<domain>, and it
// publishes a second kubeconfig (key gateway.kubeconfig) whose server is the gateway and
// whose TLS server name is <vc>.<domain>. No domain: no gateway.
func gatewayArgs(vc, domain string) []string {
	if domain == "" {
		return nil
	}
	name := gateway.ServerName(vc, domain)
	return []string{
		"--tls-san=" + name,
		"--publish-gateway-server=" + install.GatewayURL(),
		"--publish-gateway-server-name=" + name,
	}
}

// ControlPlaneDefaults are the operator's settings every control plane gets.
type ControlPlaneDefaults struct {
	// Image is the kplexd image unless the spec names one.
	Image string
	// GatewayDomain, unless empty, makes the control plane reachable through the gateway
	// (see gatewayArgs).
	GatewayDomain string
	// NetworkGateProbe is the address the tenant pods' network gate probes: empty, the
	// host API server's (kplexd's default); NetworkGateOff, no gate.
	NetworkGateProbe string
}

// The operator's (and kplex install's) flag for ControlPlaneDefaults.NetworkGateProbe;
// NetworkGateOff as its value runs tenant pods without the gate.
const (
	NetworkGateFlag = "network-gate-probe"
	NetworkGateHelp = "IP:PORT that every tenant pod's network gate connects to until its network policy refuses it: an address tenant pods are denied that accepts connections otherwise (default: the host API server's Service address); \"off\": no gate, tenant pods may start before the host enforces their policy"
	NetworkGateOff  = "off"
)

// ValidNetworkGateProbe checks a value of NetworkGateFlag.
func ValidNetworkGateProbe(p string) error {
	if p == "" || p == NetworkGateOff {
		return nil
	}
	if err := netgate.ValidProbe(p); err != nil {
		return fmt.Errorf("--%s %w, or %q", NetworkGateFlag, err, NetworkGateOff)
	}
	return nil
}

// StatefulSet runs one kplexd control plane. clusterIP is the API Service's address: pods
// on the host reach the tenant's API server there, so it is a serving-certificate SAN and
// the syncer's tenant API host. dnsIP is the DNS Service's, the tenant pods' resolver.
func StatefulSet(vc *v1alpha1.VirtualCluster, clusterIP, dnsIP string, d ControlPlaneDefaults) *appsv1.StatefulSet {
	ns := v1alpha1.HostNamespace(vc.Name)
	img := vc.Spec.ControlPlane.Image
	if img == "" {
		img = d.Image
	}
	args := []string{
		"controlplane",
		"--name=" + vc.Name,
		"--data-dir=" + dataDir,
		"--bind-address=0.0.0.0",
		"--secure-port=" + strconv.Itoa(securePort),
		// $(VAR) is expanded by the kubelet from the container's environment.
		"--advertise-address=$(POD_IP)",
		"--host-namespace=" + ns,
		"--tenant-api-host=" + clusterIP + ":" + strconv.Itoa(servicePort),
		"--publish-kubeconfig-secret=" + install.KubeconfigSecret,
		"--publish-kubeconfig-server=" + Endpoint(vc.Name),
		"--dns-address=0.0.0.0:" + strconv.Itoa(dnsPort),
		"--tenant-dns-ip=" + dnsIP,
	}
	switch d.NetworkGateProbe {
	case NetworkGateOff:
	case "":
		// The control plane's own image holds the network gate, run first in every tenant
		// pod until the pod's network policy is in effect (docs/security.md).
		args = append(args, "--network-gate-image="+img)
	default:
		args = append(args, "--network-gate-image="+img, "--network-gate-probe="+d.NetworkGateProbe)
	}
	for _, san := range append(serviceNames(vc.Name), clusterIP) {
		args = append(args, "--tls-san="+san)
	}
	args = append(args, gatewayArgs(vc.Name, d.GatewayDomain)...)
	if q := vc.Spec.Sync.QPS; q > 0 {
		args = append(args, "--sync-qps="+strconv.Itoa(int(q)))
	}
	if b := vc.Spec.Sync.Burst; b > 0 {
		args = append(args, "--sync-burst="+strconv.Itoa(int(b)))
	}
	args = append(args, "--pod-security="+podSecurityLevel(vc))
	if vc.Spec.Isolation.AllowNodePorts {
		args = append(args, "--allow-node-ports")
	}
	if vc.Spec.Isolation.AllowLoadBalancers {
		args = append(args, "--allow-load-balancers")
	}
	if vc.Spec.Isolation.AllowIngresses {
		args = append(args, "--allow-ingresses")
	}
	env := []corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "HOME", Value: "/tmp"},
	}
	var storageClass *string
	if vc.Spec.Datastore.Type == v1alpha1.DatastoreExternal {
		env = append(env, corev1.EnvVar{Name: "KPLEX_DATASTORE_ENDPOINT", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: install.DatastoreSecret}, Key: datastoreKey}}})
		args = append(args, "--datastore-endpoint=$(KPLEX_DATASTORE_ENDPOINT)")
	} else if e := vc.Spec.Datastore.Embedded; e != nil {
		storageClass = e.StorageClassName
	}
	probe := func(path string, period, failures, timeout int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(securePort), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: timeout,
		}
	}
	podLabels := selector(vc.Name)
	podLabels[LabelManagedBy] = managedBy
	sts := &appsv1.StatefulSet{
		ObjectMeta: objectMeta(vc, ControlPlaneName),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(int32(1)),
			ServiceName:         ServiceName,
			Selector:            &metav1.LabelSelector{MatchLabels: selector(vc.Name)},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: ControlPlaneName,
					// Only the syncer needs a host token: it runs with the in-cluster config.
					AutomountServiceAccountToken: ptr.To(true),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						FSGroup:        ptr.To(int64(image.NonRootUID)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					// kplexd stops within 10 s of SIGTERM.
					TerminationGracePeriodSeconds: ptr.To(int64(15)),
					Containers: []corev1.Container{{
						Name:            "kplexd",
						Image:           img,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            args,
						Env:             env,
						Ports: []corev1.ContainerPort{
							{Name: "https", ContainerPort: securePort, Protocol: corev1.ProtocolTCP},
							{Name: "dns-udp", ContainerPort: dnsPort, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: dnsPort, Protocol: corev1.ProtocolTCP},
						},
						// /readyz and /livez are open to anonymous requests
						// (system:public-info-viewer); the kubelet does not verify the
						// certificate of HTTPS probes.
						// Many control planes starting at once on a small host take
						// minutes (measured: 10 on 2 cores); a restart would only start
						// over, so the startup probe waits up to 10 minutes and the
						// liveness probe tolerates a slow answer.
						StartupProbe:    probe("/livez", 2, 300, 5),
						LivenessProbe:   probe("/livez", 10, 6, 10),
						ReadinessProbe:  probe("/readyz", 2, 3, 5),
						SecurityContext: install.RestrictedSecurityContext(),
						Resources:       controlPlaneResources(vc),
						VolumeMounts: []corev1.VolumeMount{
							{Name: dataVolume, MountPath: dataDir},
							{Name: tmpVolume, MountPath: "/tmp"},
						},
					}},
					Volumes: []corev1.Volume{{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: ownedLabels(vc.Name)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: storageClass,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: dataVolumeSize(vc)}},
				},
			}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
	sts.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("StatefulSet"))
	return sts
}
