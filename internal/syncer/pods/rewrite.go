package pods

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/translate"
)

// Annotations kplex sets on host pods.
const (
	// AnnotationSpecHash is a hash of the whole rewritten spec: when it changes, the host
	// pod is out of date.
	AnnotationSpecHash = "kplex.dev/spec-hash"
	// AnnotationFixedSpecHash hashes the rewritten spec without the fields a pod update
	// may change: when it changes, the host pod must be deleted and created again.
	AnnotationFixedSpecHash = "kplex.dev/fixed-spec-hash"
	// LabelTokenFor marks the host Secret holding a pod's service-account token.
	LabelTokenFor = "kplex.dev/token-for"
)

// ServiceAccountMountPath is where Kubernetes mounts a pod's service-account credentials.
const ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// Keys of the token Secret, the file names a pod expects.
const (
	KeyToken     = "token"
	KeyCA        = "ca.crt"
	KeyNamespace = "namespace"
)

// RewriteOptions is what HostPod needs besides the pod.
type RewriteOptions struct {
	// APIHost and APIPort are the virtual API server as pods reach it (empty: unset).
	APIHost, APIPort string
	// ServiceEnv are Docker-link variables of the virtual namespace's services; they are
	// added to every container (before the container's own variables, which win).
	ServiceEnv []corev1.EnvVar
	// DNS is the tenant's resolver (zero: the pod's DNS settings are kept as they are).
	DNS DNS
	// Gate, when its Image is set, runs before every container of the pod.
	Gate NetworkGate
}

// TokenSecretName is the host Secret holding the virtual service-account token of pod
// namespace/name. ':' never occurs in a virtual name, so it never collides with the host
// copy of a virtual Secret.
func TokenSecretName(t *translate.Translator, namespace, name string) string {
	return t.HostName(namespace, name+":token")
}

// HostPod returns the host copy of a virtual pod: metadata from translate.HostMeta and
// a spec in which every reference to a namespaced object is renamed, the host's own
// service-account token is never mounted and the virtual one (from the Secret named by
// TokenSecretName) is mounted where the pod's service-account volume was. needsToken
// reports whether the pod mounts that token.
//
// Host-sensitive fields (hostNetwork, hostPID, hostIPC, hostPath volumes, privileged
// containers) are copied as they are: confining them is the tenant admission policy's job.
// nodeSelector, affinity and tolerations pass through unchanged. nodeName never does: a
// tenant can bind its own pending pod (pods/binding), and a host pod carrying that name
// would skip the host scheduler, its taints and its filters. pinToNode turns it into a
// required node affinity instead, so a host pod recreated for a bound virtual pod goes
// back to the node the tenant sees, through the host scheduler, or stays Pending.
func HostPod(t *translate.Translator, virtual *corev1.Pod, o RewriteOptions) (pod *corev1.Pod, needsToken bool) {
	ns := virtual.Namespace
	host := &corev1.Pod{ObjectMeta: t.HostMeta(virtual)}
	spec := virtual.Spec.DeepCopy()
	rename := func(name string) string { return t.HostName(ns, name) }

	// The host service account is the host namespace's default, and its token is never
	// mounted: the pod gets the virtual one below.
	spec.ServiceAccountName = ""
	spec.DeprecatedServiceAccount = ""
	spec.AutomountServiceAccountToken = ptr.To(false)
	// Host services mean nothing to the tenant: its own are in ServiceEnv.
	spec.EnableServiceLinks = ptr.To(false)
	// Fields the host's admission computes from host objects the tenant does not see.
	spec.Priority = nil
	spec.PriorityClassName = ""
	spec.Overhead = nil
	spec.EphemeralContainers = nil
	if spec.Hostname == "" && len(content.IsDNS1123Label(virtual.Name)) == 0 {
		spec.Hostname = virtual.Name // a pod sees its own (virtual) name as hostname
	}
	spec.Subdomain = "" // the tenant's DNS answers for it, not the host's
	if o.DNS.Server != "" {
		hostDNS(spec, ns, o.DNS)
	}
	for i := range spec.ImagePullSecrets {
		spec.ImagePullSecrets[i].Name = rename(spec.ImagePullSecrets[i].Name)
	}

	tokenSecret := TokenSecretName(t, ns, virtual.Name)
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		switch {
		case v.ConfigMap != nil:
			v.ConfigMap.Name = rename(v.ConfigMap.Name)
		case v.Secret != nil:
			v.Secret.SecretName = rename(v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			v.PersistentVolumeClaim.ClaimName = rename(v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			// The virtual cluster's ephemeral-volume controller creates the claim, which is
			// synced like any other: the host's own controller must not create a second one.
			v.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: rename(ephemeral.VolumeClaimName(virtual, v)),
			}}
		case v.Projected != nil:
			if isServiceAccountVolume(v.Projected) {
				v.VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName:  tokenSecret,
					DefaultMode: v.Projected.DefaultMode,
					Items: []corev1.KeyToPath{
						{Key: KeyToken, Path: KeyToken}, {Key: KeyCA, Path: KeyCA}, {Key: KeyNamespace, Path: KeyNamespace},
					},
				}}
				needsToken = true
				continue
			}
			kept := v.Projected.Sources[:0]
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					s.ConfigMap.Name = rename(s.ConfigMap.Name)
				case s.Secret != nil:
					s.Secret.Name = rename(s.Secret.Name)
				case s.ServiceAccountToken != nil:
					// Tokens for other audiences are not issued yet: a host token must
					// never take their place.
					continue
				}
				kept = append(kept, s)
			}
			v.Projected.Sources = kept
		}
	}

	apiEnv := kubernetesEnv(o.APIHost, o.APIPort)
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			for j := range c.EnvFrom {
				e := &c.EnvFrom[j]
				if e.ConfigMapRef != nil {
					e.ConfigMapRef.Name = rename(e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil {
					e.SecretRef.Name = rename(e.SecretRef.Name)
				}
			}
			env := make([]corev1.EnvVar, 0, len(apiEnv)+len(c.Env))
			env = append(env, apiEnv...)
			for _, e := range c.Env {
				env = append(env, hostEnvVar(e, virtual, rename))
			}
			c.Env = dedupEnv(env)
		}
	}
	// The hashes leave the service variables out: like a kubelet, kplex sets them when the
	// pod starts, and services created later must not replace running pods.
	host.Annotations[AnnotationSpecHash] = hash(hashed(spec))
	host.Annotations[AnnotationFixedSpecHash] = hash(fixedPart(hashed(spec)))
	// After the hashes: the syncer binds the virtual pod to the host pod's node, and that
	// binding must not make the running host pod look changed.
	pinToNode(spec)
	if len(o.ServiceEnv) > 0 {
		for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range list {
				list[i].Env = dedupEnv(append(append([]corev1.EnvVar{}, o.ServiceEnv...), list[i].Env...))
			}
		}
	}
	// Last, so that the gate gets none of the tenant's variables, and outside the hashes:
	// turning the gate on or changing its image concerns pods yet to start, not the
	// running ones.
	if o.Gate.Image != "" {
		withGate(spec, o.Gate, gateName(&virtual.Spec))
	}
	host.Spec = *spec
	return host, needsToken
}

// isServiceAccountVolume tells the volume the ServiceAccount admission plugin adds
// (kube-api-access-*): a projected service-account token for the API server's own
// audience at path "token".
func isServiceAccountVolume(p *corev1.ProjectedVolumeSource) bool {
	for _, s := range p.Sources {
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == "" && s.ServiceAccountToken.Path == KeyToken {
			return true
		}
	}
	return false
}

// hostEnvVar renames references and replaces the downward-API fields whose host value
// would differ (the pod's name and namespace) by the virtual values.
func hostEnvVar(e corev1.EnvVar, virtual *corev1.Pod, rename func(string) string) corev1.EnvVar {
	if e.ValueFrom == nil {
		return e
	}
	switch {
	case e.ValueFrom.ConfigMapKeyRef != nil:
		e.ValueFrom.ConfigMapKeyRef.Name = rename(e.ValueFrom.ConfigMapKeyRef.Name)
	case e.ValueFrom.SecretKeyRef != nil:
		e.ValueFrom.SecretKeyRef.Name = rename(e.ValueFrom.SecretKeyRef.Name)
	case e.ValueFrom.FieldRef != nil:
		switch e.ValueFrom.FieldRef.FieldPath {
		case "metadata.name":
			return corev1.EnvVar{Name: e.Name, Value: virtual.Name}
		case "metadata.namespace":
			return corev1.EnvVar{Name: e.Name, Value: virtual.Namespace}
		case "metadata.uid":
			return corev1.EnvVar{Name: e.Name, Value: string(virtual.UID)}
		case "spec.serviceAccountName":
			return corev1.EnvVar{Name: e.Name, Value: virtual.Spec.ServiceAccountName}
		}
	}
	return e
}

// kubernetesEnv is what a kubelet sets for the "kubernetes" service, pointing at the
// virtual API server.
func kubernetesEnv(host, port string) []corev1.EnvVar {
	if host == "" {
		return nil
	}
	url := "tcp://" + joinHostPort(host, port)
	pfx := "KUBERNETES_PORT_" + port + "_TCP"
	return []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: host},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: url},
		{Name: pfx, Value: url},
		{Name: pfx + "_PROTO", Value: "tcp"},
		{Name: pfx + "_PORT", Value: port},
		{Name: pfx + "_ADDR", Value: host},
	}
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// dedupEnv keeps the last of each name in the position of the first, as a kubelet
// resolves a container's variables over the service ones.
func dedupEnv(env []corev1.EnvVar) []corev1.EnvVar {
	last := make(map[string]int, len(env))
	for i, e := range env {
		last[e.Name] = i
	}
	out := env[:0:0]
	seen := make(map[string]bool, len(env))
	for _, e := range env {
		if seen[e.Name] {
			continue
		}
		seen[e.Name] = true
		out = append(out, env[last[e.Name]])
	}
	return out
}

// hashed is the part of a spec the hashes cover: nodeName is left out, since the host
// scheduler sets it on the host pod and the syncer then binds the virtual pod to it.
func hashed(spec *corev1.PodSpec) *corev1.PodSpec {
	s := spec.DeepCopy()
	s.NodeName = ""
	return s
}

// pinToNode replaces spec.nodeName by a required node affinity on the node's name (as the
// DaemonSet controller does), added to every term so that the tenant's own terms still hold.
func pinToNode(spec *corev1.PodSpec) {
	node := spec.NodeName
	if node == "" {
		return
	}
	spec.NodeName = ""
	req := corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = append(terms[i].MatchFields, req)
	}
}

// fixedPart blanks the fields a pod update may change (container images,
// activeDeadlineSeconds, added tolerations) so that its hash changes only when the
// host pod must be replaced.
func fixedPart(spec *corev1.PodSpec) *corev1.PodSpec {
	s := spec.DeepCopy()
	for i := range s.InitContainers {
		s.InitContainers[i].Image = ""
	}
	for i := range s.Containers {
		s.Containers[i].Image = ""
	}
	s.ActiveDeadlineSeconds = nil
	s.Tolerations = nil
	return s
}

// applyMutable copies the updatable fields of desired onto host. Containers are matched by
// name, not position: a host pod made before the network gate was turned on has one init
// container fewer than desired.
func applyMutable(host, desired *corev1.PodSpec) {
	copyImages(host.InitContainers, desired.InitContainers)
	copyImages(host.Containers, desired.Containers)
	host.ActiveDeadlineSeconds = desired.ActiveDeadlineSeconds
	host.Tolerations = desired.Tolerations
}

func copyImages(host, desired []corev1.Container) {
	images := make(map[string]string, len(desired))
	for _, c := range desired {
		images[c.Name] = c.Image
	}
	for i := range host {
		if img, ok := images[host[i].Name]; ok {
			host[i].Image = img
		}
	}
}

func hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a PodSpec always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// TokenSecret returns the host Secret that carries a virtual pod's service-account
// credentials: the token, the virtual cluster's CA and the virtual namespace.
func TokenSecret(t *translate.Translator, virtual *corev1.Pod, token, ca []byte) *corev1.Secret {
	meta := t.HostMeta(virtual)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        TokenSecretName(t, virtual.Namespace, virtual.Name),
			Namespace:   meta.Namespace,
			Labels:      withLabel(t.HostLabels(virtual.Namespace, nil), LabelTokenFor, meta.Name),
			Annotations: meta.Annotations,
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KeyToken: token, KeyCA: ca, KeyNamespace: []byte(virtual.Namespace)},
	}
}

func withLabel(l map[string]string, k, v string) map[string]string {
	l[k] = v
	return l
}
