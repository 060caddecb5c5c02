package pods

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ConfigMapRefs are the names of the ConfigMaps a virtual pod uses (in its namespace).
// The root CA ConfigMap of the service-account volume is not one of them: the host pod
// gets the CA from its token Secret.
func ConfigMapRefs(p *corev1.Pod) []string {
	s := sets.New[string]()
	for _, v := range p.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			s.Insert(v.ConfigMap.Name)
		case v.Projected != nil && !isServiceAccountVolume(v.Projected):
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					s.Insert(src.ConfigMap.Name)
				}
			}
		}
	}
	eachContainer(p, func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				s.Insert(e.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				s.Insert(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	})
	return sets.List(s)
}

// SecretRefs are the names of the Secrets a virtual pod uses, image pull secrets included.
func SecretRefs(p *corev1.Pod) []string {
	s := sets.New[string]()
	for _, r := range p.Spec.ImagePullSecrets {
		s.Insert(r.Name)
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.Secret != nil:
			s.Insert(v.Secret.SecretName)
		case v.Projected != nil && !isServiceAccountVolume(v.Projected):
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					s.Insert(src.Secret.Name)
				}
			}
		}
	}
	eachContainer(p, func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				s.Insert(e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				s.Insert(e.ValueFrom.SecretKeyRef.Name)
			}
		}
	})
	s.Delete("")
	return sets.List(s)
}

func eachContainer(p *corev1.Pod, fn func(*corev1.Container)) {
	for i := range p.Spec.InitContainers {
		fn(&p.Spec.InitContainers[i])
	}
	for i := range p.Spec.Containers {
		fn(&p.Spec.Containers[i])
	}
}
