package audit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// admissionGroup: objects the tenant policy in the virtual API server must refuse.
func admissionGroup() group {
	return group{name: "admission", setup: admissionControl, checks: []check{
		{"privileged container", podRefused(privileged)},
		{"hostPath volume", podRefused(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
		})},
		{"hostNetwork", podRefused(func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{"hostPort", podRefused(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		})},
		{"hostPID", podRefused(func(p *corev1.Pod) { p.Spec.HostPID = true })},
		{"hostIPC", podRefused(func(p *corev1.Pod) { p.Spec.HostIPC = true })},
		{"added capabilities NET_ADMIN, SYS_ADMIN", podRefused(func(p *corev1.Pod) {
			sc(p).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_ADMIN", "SYS_ADMIN"}}
		})},
		{"allowPrivilegeEscalation true", restrictedOnly(podRefused(func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = ptr.To(true) }))},
		{"running as root", restrictedOnly(podRefused(func(p *corev1.Pod) {
			sc(p).RunAsNonRoot, sc(p).RunAsUser = ptr.To(false), ptr.To(int64(0))
		}))},
		{"spec.nodeName at creation", nodeNameRefused},
		{"NodePort service", serviceRefused(corev1.ServiceTypeNodePort)},
		{"LoadBalancer service", serviceRefused(corev1.ServiceTypeLoadBalancer)},
		{"hostPath PersistentVolume", hostPathVolumeRefused},
		{"privileged pod in a namespace labelled enforce=privileged", lowerLevelRefused},
	}}
}

// compliantPod is a pod the restricted level admits: the base every check breaks in one
// way.
func compliantPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "kplex-audit"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			AutomountServiceAccountToken:  ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
				// Small requests of its own: a ResourceQuota on requests in the tenant's
				// namespace (the tenant's, or the one a check just deleted, which the
				// quota admission's cache may still hold) refuses pods that name none.
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// privileged makes the first container privileged. allowPrivilegeEscalation false would
// make the pod invalid (a refusal that proves nothing), so it goes.
func privileged(p *corev1.Pod) {
	sc(p).Privileged, sc(p).AllowPrivilegeEscalation = ptr.To(true), nil
}

// sc is the first container's security context.
func sc(p *corev1.Pod) *corev1.SecurityContext { return p.Spec.Containers[0].SecurityContext }

// admissionControl makes sure that a compliant pod is admitted (dry run), so that a
// refusal below is the policy's doing, not a broken pod or API server.
func admissionControl(ctx context.Context, e *env) string {
	p := compliantPod("kplex-audit-control", e.image)
	if _, err := e.virtual.Client.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return fmt.Sprintf("control failed: a pod that the %s level allows was refused too, so a refusal proves nothing: %v", e.level, err)
	}
	return ""
}

// podRefused creates the compliant pod broken by mutate and expects a refusal.
func podRefused(mutate func(*corev1.Pod)) func(context.Context, *env) (Outcome, string) {
	return func(ctx context.Context, e *env) (Outcome, string) {
		return e.tryPod(ctx, e.ns, mutate)
	}
}

// tryPod creates a pod in namespace ns (a real create: a dry run might skip what a real
// one does) and deletes it again if it was admitted.
func (e *env) tryPod(ctx context.Context, ns string, mutate func(*corev1.Pod)) (Outcome, string) {
	p := compliantPod("kplex-audit-"+randomSuffix(), e.image)
	mutate(p)
	pods := e.virtual.Client.CoreV1().Pods(ns)
	_, err := pods.Create(ctx, p, metav1.CreateOptions{})
	return refused(err, fmt.Sprintf("admitted: pod %s/%s was created (deleted again)", ns, p.Name), func() {
		_ = pods.Delete(context.WithoutCancel(ctx), p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	})
}

// restrictedOnly skips a check of what the baseline level allows.
func restrictedOnly(c func(context.Context, *env) (Outcome, string)) func(context.Context, *env) (Outcome, string) {
	return func(ctx context.Context, e *env) (Outcome, string) {
		if e.level != string(v1alpha1.PodSecurityRestricted) {
			return Skip, fmt.Sprintf("spec.isolation.podSecurity is %s, which allows it (only restricted forbids it)", e.level)
		}
		return c(ctx, e)
	}
}

// nodeNameRefused names a real host node, the way a tenant would pick one to bypass the
// host scheduler.
func nodeNameRefused(ctx context.Context, e *env) (Outcome, string) {
	node := "kplex-audit-node"
	nodes := &corev1.NodeList{}
	if err := e.host.Client.List(ctx, nodes); err == nil && len(nodes.Items) > 0 {
		node = nodes.Items[0].Name
	}
	return e.tryPod(ctx, e.ns, func(p *corev1.Pod) { p.Spec.NodeName = node })
}

// serviceRefused tries a Service of type t, unless the spec allows that type.
func serviceRefused(t corev1.ServiceType) func(context.Context, *env) (Outcome, string) {
	return func(ctx context.Context, e *env) (Outcome, string) {
		iso := e.vc.Spec.Isolation
		switch {
		case t == corev1.ServiceTypeNodePort && iso.AllowNodePorts:
			return Skip, "spec.isolation.allowNodePorts is true: the host admin allows NodePort services for this cluster"
		case t == corev1.ServiceTypeLoadBalancer && iso.AllowLoadBalancers:
			return Skip, "spec.isolation.allowLoadBalancers is true: the host admin allows LoadBalancer services for this cluster"
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kplex-audit-" + randomSuffix()},
			Spec: corev1.ServiceSpec{Type: t, Selector: map[string]string{"app": "kplex-audit"},
				Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
		}
		svcs := e.virtual.Client.CoreV1().Services(e.ns)
		_, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
		return refused(err, fmt.Sprintf("admitted: %s Service %s/%s was created (deleted again)", t, e.ns, svc.Name), func() {
			_ = svcs.Delete(context.WithoutCancel(ctx), svc.Name, metav1.DeleteOptions{})
		})
	}
}

// hostPathVolumeRefused tries a PersistentVolume on the host node's root directory.
func hostPathVolumeRefused(ctx context.Context, e *env) (Outcome, string) {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: e.ns + "-hostpath"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
		},
	}
	pvs := e.virtual.Client.CoreV1().PersistentVolumes()
	_, err := pvs.Create(ctx, pv, metav1.CreateOptions{})
	return refused(err, fmt.Sprintf("admitted: PersistentVolume %s with hostPath / was created (deleted again)", pv.Name), func() {
		e.mu.Lock()
		e.volumes = append(e.volumes, pv.Name) // deleted in the cleanup too, should this delete fail
		e.mu.Unlock()
		_ = pvs.Delete(context.WithoutCancel(ctx), pv.Name, metav1.DeleteOptions{})
	})
}

// lowerLevelRefused labels a namespace to enforce the privileged level (the tenant owns
// its namespaces' labels), then tries a privileged pod in it.
func lowerLevelRefused(ctx context.Context, e *env) (Outcome, string) {
	ns := e.ns + "-psa"
	labels := map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/enforce-version": "latest"}
	if err := e.createNamespace(ctx, ns, labels); err != nil {
		o, evidence := refused(err, "", nil)
		if o == Pass {
			return Pass, "the labelled namespace itself was " + evidence
		}
		return Error, err.Error()
	}
	o, evidence := e.tryPod(ctx, ns, privileged)
	if o == Pass {
		evidence = "namespace " + ns + " labelled enforce=privileged was created, but the privileged pod was " + evidence
	}
	return o, evidence
}
