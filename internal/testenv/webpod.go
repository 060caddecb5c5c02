package testenv

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/devhost/image"
)

// WebPod is a pod serving text over HTTP on port 8080 (busybox httpd of the
// devhost's test image), shaped as Pod Security "restricted" admits: the
// level kplex enforces on a tenant's host namespace by default.
func WebPod(name, text string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65534)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "web", Image: image.TestboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "mkdir -p /tmp/www && echo '" + text + "' > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"},
				Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
}
