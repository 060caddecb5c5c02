package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualCluster is one tenant's virtual cluster: a kplexd control plane that runs in host
// namespace kplex-<name> and syncs the tenant's pods into that namespace.
//
// The name becomes part of a namespace name (kplex-<name>), so it must be a DNS label of at
// most 57 characters.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vc,categories=kplex
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 57",message="metadata.name must be at most 57 characters: the host namespace is kplex-<name>"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label (lower-case letters, digits and '-', no dots): the host namespace is kplex-<name>"
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'system'",message="metadata.name system is reserved: kplex-system is kplex's own namespace"
type VirtualCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec   VirtualClusterSpec   `json:"spec"`
	Status VirtualClusterStatus `json:"status,omitempty"`
}

// VirtualClusterList is a list of VirtualClusters.
//
// +kubebuilder:object:root=true
type VirtualClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualCluster `json:"items"`
}

// VirtualClusterSpec is what the host administrator asks for. Every field has a default:
// an empty spec is a working virtual cluster.
type VirtualClusterSpec struct {
	// Datastore is where the virtual cluster's objects are stored. It cannot be changed
	// after creation.
	// +kubebuilder:default={type: Embedded}
	// +optional
	Datastore Datastore `json:"datastore"`

	// ControlPlane tunes the kplexd control-plane pod.
	// +kubebuilder:default={}
	// +optional
	ControlPlane ControlPlane `json:"controlPlane"`

	// Isolation is how the tenant's workloads are confined on the host.
	// +kubebuilder:default={}
	// +optional
	Isolation Isolation `json:"isolation"`

	// Expose is how the virtual cluster's API server is reachable.
	// +kubebuilder:default={}
	// +optional
	Expose Expose `json:"expose"`

	// Sync tunes the syncer that copies the tenant's objects to the host.
	// +kubebuilder:default={}
	// +optional
	Sync Sync `json:"sync"`

	// Sleep puts an idle virtual cluster to sleep: its host pods are removed and its
	// control plane scaled to zero; its data stays. `kplex sleep` and `kplex wake` do it by
	// hand, and the gateway wakes a sleeping cluster on its first connection.
	// +kubebuilder:default={}
	// +optional
	Sleep Sleep `json:"sleep"`
}

// Sleep is when a virtual cluster goes to sleep by itself.
type Sleep struct {
	// AfterInactivity puts the virtual cluster to sleep once no person and none of the
	// tenant's own controllers has used its API for this long (kplex's own components
	// and health probes do not count). Unset: never by itself. At least one minute.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="spec.sleep.afterInactivity must be at least 1m (e.g. 30m)"
	// +optional
	AfterInactivity *metav1.Duration `json:"afterInactivity,omitempty"`
}

// Annotations that ask the operator to put a virtual cluster to sleep or wake it (RFC 3339
// times): the later of the two wins, so a wake that comes after a sleep is never lost.
// `kplex sleep`/`kplex wake` and the gateway set them; inactivity sets the sleep one.
const (
	AnnotationSleepRequested = "kplex.dev/sleep-requested-at"
	AnnotationWakeRequested  = "kplex.dev/wake-requested-at"
	// AnnotationSleepReason says who asked for sleep: "kplex sleep", "inactive since <time>".
	AnnotationSleepReason = "kplex.dev/sleep-reason"
)

// DatastoreType names a datastore kind.
// +kubebuilder:validation:Enum=Embedded;External
type DatastoreType string

const (
	// DatastoreEmbedded is SQLite (through kine) on a PersistentVolumeClaim of the
	// control-plane pod.
	DatastoreEmbedded DatastoreType = "Embedded"
	// DatastoreExternal is a PostgreSQL, MySQL or etcd server named by a DSN in a Secret.
	DatastoreExternal DatastoreType = "External"
)

// Datastore selects and configures the virtual cluster's storage.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.datastore is immutable: create a new virtual cluster to change it"
// +kubebuilder:validation:XValidation:rule="self.type != 'External' || has(self.external)",message="spec.datastore.external is required when spec.datastore.type is External",fieldPath=".external"
// +kubebuilder:validation:XValidation:rule="self.type == 'External' || !has(self.external)",message="spec.datastore.external is only allowed when spec.datastore.type is External",fieldPath=".external"
// +kubebuilder:validation:XValidation:rule="self.type == 'Embedded' || !has(self.embedded)",message="spec.datastore.embedded is only allowed when spec.datastore.type is Embedded",fieldPath=".embedded"
type Datastore struct {
	// Type is Embedded (SQLite on a volume, the default) or External.
	// +kubebuilder:default=Embedded
	// +optional
	Type DatastoreType `json:"type"`

	// Embedded configures the volume of the embedded datastore.
	// +optional
	Embedded *EmbeddedDatastore `json:"embedded,omitempty"`

	// External names the Secret holding the external datastore's DSN.
	// +optional
	External *ExternalDatastore `json:"external,omitempty"`
}

// DefaultEmbeddedSize is the size of the embedded datastore's volume when none is given.
const DefaultEmbeddedSize = "1Gi"

// EmbeddedDatastore is the PersistentVolumeClaim of the embedded datastore.
type EmbeddedDatastore struct {
	// Size of the volume (default 1Gi).
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the volume (default: the host's default StorageClass).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// ExternalDatastore names the Secret that holds the DSN of an external datastore
// (postgres://, mysql:// or etcd http(s):// URL, as kplexd's --datastore-endpoint).
//
// The Secret lives in namespace kplex-system, next to the operator: only the host
// administrator writes there, and the operator needs to read Secrets in that one namespace
// only. The operator copies the DSN into the tenant's host namespace for the control plane.
type ExternalDatastore struct {
	// SecretRef is the Secret in namespace kplex-system and its key holding the DSN.
	SecretRef SecretKeyRef `json:"secretRef"`
}

// SecretKeyRef names a key of a Secret.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret's data (default "dsn").
	// +kubebuilder:default=dsn
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// ControlPlane tunes the kplexd control-plane pod.
type ControlPlane struct {
	// Image of kplexd (default: the operator's own image).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the control-plane container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// PodSecurityLevel is a Pod Security Standards level enforced on the host namespace.
// +kubebuilder:validation:Enum=restricted;baseline
type PodSecurityLevel string

const (
	PodSecurityRestricted PodSecurityLevel = "restricted"
	PodSecurityBaseline   PodSecurityLevel = "baseline"
)

// Isolation is how the tenant's workloads are confined on the host.
type Isolation struct {
	// PodSecurity is the Pod Security Standards level enforced on the tenant's host
	// namespace: restricted (the default) or baseline. privileged is not offered: the
	// tenant is not trusted with the host.
	// +kubebuilder:default=restricted
	// +optional
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// AllowNodePorts lets the tenant create NodePort Services (kplexd --allow-node-ports).
	// Off by default: a NodePort opens a port on every host node.
	// +optional
	AllowNodePorts bool `json:"allowNodePorts,omitempty"`

	// AllowLoadBalancers lets the tenant create LoadBalancer Services
	// (kplexd --allow-load-balancers). Off by default: it exposes the tenant outside the
	// host cluster, and on most hosts it also takes node ports.
	// +optional
	AllowLoadBalancers bool `json:"allowLoadBalancers,omitempty"`

	// AllowIngresses lets the tenant create Ingresses (kplexd --allow-ingresses), which the
	// host's ingress controllers then serve: the operator admits the controllers' pods to
	// the pods and ports the Ingresses lead to (kplexd operator
	// --ingress-controller-namespace). Off by default: an Ingress publishes the tenant
	// outside the host cluster and claims host names on a controller shared by all tenants.
	// +optional
	AllowIngresses bool `json:"allowIngresses,omitempty"`

	// Quota caps what the tenant's workloads may request in the host namespace (a host
	// ResourceQuota the tenant cannot change). The control plane's own pod, volume and
	// Services are added on top, so the whole quota is the tenant's.
	// +kubebuilder:default={}
	// +optional
	Quota Quota `json:"quota"`
}

// Quota is the tenant's share of the host. The defaults fit a team's development cluster
// on a shared host: enough for a few dozen small pods, far from a node's worth, so that
// one tenant cannot take the host from the others. Requests are capped, not limits: the
// scheduler places pods by their requests, and a limit the tenant did not write would
// kill its pods at a size it never chose; containers without requests get
// DefaultCPURequest and DefaultMemoryRequest (a host LimitRange), so no pod is refused
// merely for omitting them.
type Quota struct {
	// CPU is the sum of the CPU requests of the tenant's pods (default 4 cores).
	// +kubebuilder:default="4"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="spec.isolation.quota.cpu must not be negative"
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`

	// Memory is the sum of the memory requests of the tenant's pods (default 8Gi).
	// +kubebuilder:default="8Gi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="spec.isolation.quota.memory must not be negative"
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`

	// Storage is the sum of the storage requests of the tenant's PersistentVolumeClaims
	// (default 20Gi).
	// +kubebuilder:default="20Gi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="spec.isolation.quota.storage must not be negative"
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`

	// Pods is the number of the tenant's pods, running or not (default 50).
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Pods *int32 `json:"pods,omitempty"`

	// PersistentVolumeClaims is the number of the tenant's claims (default 10).
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	PersistentVolumeClaims *int32 `json:"persistentVolumeClaims,omitempty"`

	// Services is the number of the tenant's Services (default 20).
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Services *int32 `json:"services,omitempty"`

	// ServicesNodePorts is the number of node ports the tenant's Services may take
	// (default 2). It counts only when allowNodePorts or allowLoadBalancers is true;
	// otherwise the tenant's share is 0, a second wall behind kplexd's admission.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ServicesNodePorts *int32 `json:"servicesNodePorts,omitempty"`

	// ServicesLoadBalancers is the number of the tenant's LoadBalancer Services
	// (default 1). It counts only when allowLoadBalancers is true.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ServicesLoadBalancers *int32 `json:"servicesLoadBalancers,omitempty"`

	// DefaultCPURequest is the CPU request of a tenant container that names none
	// (default 100m).
	// +kubebuilder:default="100m"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.isolation.quota.defaultCPURequest must be positive"
	// +optional
	DefaultCPURequest *resource.Quantity `json:"defaultCPURequest,omitempty"`

	// DefaultMemoryRequest is the memory request of a tenant container that names none
	// (default 128Mi).
	// +kubebuilder:default="128Mi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.isolation.quota.defaultMemoryRequest must be positive"
	// +optional
	DefaultMemoryRequest *resource.Quantity `json:"defaultMemoryRequest,omitempty"`
}

// Defaults of Quota, for VirtualClusters stored before the fields existed (the API server
// fills them in on every other).
const (
	DefaultQuotaCPU                    = "4"
	DefaultQuotaMemory                 = "8Gi"
	DefaultQuotaStorage                = "20Gi"
	DefaultQuotaPods                   = 50
	DefaultQuotaPersistentVolumeClaims = 10
	DefaultQuotaServices               = 20
	DefaultQuotaServicesNodePorts      = 2
	DefaultQuotaServicesLoadBalancers  = 1
	DefaultCPURequest                  = "100m"
	DefaultMemoryRequest               = "128Mi"
)

// ExposeType is the type of the Service in front of the virtual cluster's API server.
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
type ExposeType string

const (
	ExposeClusterIP    ExposeType = "ClusterIP"
	ExposeNodePort     ExposeType = "NodePort"
	ExposeLoadBalancer ExposeType = "LoadBalancer"
)

// Expose is how the virtual cluster's API server is reachable.
type Expose struct {
	// Type of the API server's Service: ClusterIP (the default), NodePort or LoadBalancer.
	// +kubebuilder:default=ClusterIP
	// +optional
	Type ExposeType `json:"type,omitempty"`
}

// Sync tunes the syncer. Zero values mean kplexd's defaults.
type Sync struct {
	// QPS is the syncer's queries per second to each API server.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +optional
	QPS int32 `json:"qps,omitempty"`

	// Burst is the syncer's burst of queries to each API server.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20000
	// +optional
	Burst int32 `json:"burst,omitempty"`
}

// Phase is a VirtualCluster's place in its life cycle.
// +kubebuilder:validation:Enum=Pending;Provisioning;Ready;Sleeping;Waking;Deleting;Failed
type Phase string

const (
	// PhasePending: accepted, the operator has not acted on it yet.
	PhasePending Phase = "Pending"
	// PhaseProvisioning: host objects are being created or the control plane is starting.
	PhaseProvisioning Phase = "Provisioning"
	// PhaseReady: the control plane is ready and its kubeconfig is published.
	PhaseReady Phase = "Ready"
	// PhaseSleeping: going to sleep or asleep: the tenant's host pods are removed and the
	// control plane scaled to zero (condition Asleep says which).
	PhaseSleeping Phase = "Sleeping"
	// PhaseWaking: the control plane is starting again after sleep; the syncer then
	// recreates the tenant's host pods.
	PhaseWaking Phase = "Waking"
	// PhaseDeleting: the host objects are being removed.
	PhaseDeleting Phase = "Deleting"
	// PhaseFailed: the operator cannot make progress without a change (see the conditions).
	PhaseFailed Phase = "Failed"
)

// Condition types of a VirtualCluster.
const (
	// ConditionReady is true when the virtual cluster can be used.
	ConditionReady = "Ready"
	// ConditionHostObjects is true when every host object of the virtual cluster exists.
	ConditionHostObjects = "HostObjectsReady"
	// ConditionControlPlane is true when the control-plane pod is ready.
	ConditionControlPlane = "ControlPlaneReady"
	// ConditionKubeconfig is true when the admin kubeconfig Secret is published.
	ConditionKubeconfig = "KubeconfigPublished"
	// ConditionIsolation is true when the host NetworkPolicies, ResourceQuota and
	// LimitRange of the spec are in place.
	ConditionIsolation = "IsolationReady"
	// ConditionAsleep is true when the virtual cluster sleeps: no control plane, no host
	// pod of the tenant.
	ConditionAsleep = "Asleep"
)

// Condition reasons of a VirtualCluster.
const (
	ReasonCreating                = "Creating"
	ReasonCreated                 = "Created"
	ReasonCreateFailed            = "CreateFailed"
	ReasonDatastoreSecretMissing  = "DatastoreSecretMissing"
	ReasonControlPlaneStarting    = "ControlPlaneStarting"
	ReasonControlPlaneReady       = "ControlPlaneReady"
	ReasonKubeconfigMissing       = "KubeconfigNotPublished"
	ReasonKubeconfigPublished     = "KubeconfigPublished"
	ReasonReady                   = "Ready"
	ReasonProvisioning            = "Provisioning"
	ReasonDeleting                = "Deleting"
	ReasonNamespaceConflict       = "NamespaceConflict"
	ReasonWaitingForHostNamespace = "WaitingForHostNamespace"
	ReasonIsolated                = "Isolated"
	ReasonIsolationFailed         = "IsolationFailed"
	ReasonGoingToSleep            = "GoingToSleep"
	ReasonSleeping                = "Sleeping"
	ReasonAwake                   = "Awake"
	ReasonWaking                  = "Waking"
	ReasonInvalidSleepRequest     = "InvalidSleepRequest"
)

// KubeconfigSecretKey is the key of the admin kubeconfig in the Secret named by
// status.kubeconfigSecret.
const KubeconfigSecretKey = "kubeconfig"

// GatewayKubeconfigSecretKey is the key, in the same Secret, of the admin kubeconfig that
// reaches the API server through the gateway (which wakes a sleeping cluster).
const GatewayKubeconfigSecretKey = "gateway.kubeconfig"

// VirtualClusterStatus is what the operator observed.
type VirtualClusterStatus struct {
	// Phase summarises the conditions.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, HostObjectsReady, IsolationReady, ControlPlaneReady,
	// KubeconfigPublished.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Endpoint is the URL of the virtual cluster's API server as seen from the host
	// cluster (https://<service>.<namespace>.svc:443).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// KubeconfigSecret is the Secret holding the tenant's admin kubeconfig under key
	// "kubeconfig"; its server is Endpoint.
	// +optional
	KubeconfigSecret *SecretReference `json:"kubeconfigSecret,omitempty"`

	// HostNamespace is the host namespace of the virtual cluster: kplex-<name>.
	// +optional
	HostNamespace string `json:"hostNamespace,omitempty"`

	// LastActivityTime is the last time a person or one of the tenant's own controllers
	// used the API, as the control plane reported it (at most a minute late).
	// +optional
	LastActivityTime *metav1.Time `json:"lastActivityTime,omitempty"`
}

// SecretReference names a Secret in a namespace.
type SecretReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// HostNamespace is the host namespace of the virtual cluster called name.
func HostNamespace(name string) string { return "kplex-" + name }

// EmbeddedSize is the volume size of the embedded datastore, defaulted.
func (d *Datastore) EmbeddedSize() resource.Quantity {
	if d.Embedded != nil && d.Embedded.Size != nil {
		return *d.Embedded.Size
	}
	return resource.MustParse(DefaultEmbeddedSize)
}
