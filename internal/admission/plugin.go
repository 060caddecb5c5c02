package admission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

// Converter turns the API server's internal objects into their v1 form (the API server's
// scheme); objects already in v1 form are used as they are.
type Converter interface {
	Convert(in, out, context interface{}) error
}

// Register adds the plugin to an API server's plugin registry. The factory closes over
// cfg: the plugin takes no configuration file, so nothing but kplexd's flags changes it.
func Register(plugins *k8sadmission.Plugins, cfg Config, scheme Converter) {
	plugins.Register(PluginName, func(io.Reader) (k8sadmission.Interface, error) {
		return New(cfg, scheme)
	})
}

// Plugin is the admission.Interface of the tenant policy.
type Plugin struct {
	*k8sadmission.Handler
	policy     *Policy
	scheme     Converter
	namespaces corev1listers.NamespaceLister
	client     kubernetes.Interface
}

var (
	_ k8sadmission.ValidationInterface             = (*Plugin)(nil)
	_ k8sadmission.InitializationValidator         = (*Plugin)(nil)
	_ initializer.WantsExternalKubeInformerFactory = (*Plugin)(nil)
	_ initializer.WantsExternalKubeClientSet       = (*Plugin)(nil)
)

// New returns the plugin for cfg.
func New(cfg Config, scheme Converter) (*Plugin, error) {
	p, err := NewPolicy(cfg)
	if err != nil {
		return nil, err
	}
	return &Plugin{Handler: k8sadmission.NewHandler(k8sadmission.Create, k8sadmission.Update), policy: p, scheme: scheme}, nil
}

// SetExternalKubeInformerFactory reads namespace labels from the API server's informers.
// Until they have synced, namespaceLabels falls back to the API.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.namespaces = f.Core().V1().Namespaces().Lister()
}

// SetExternalKubeClientSet reads namespaces the informer has not seen yet.
func (p *Plugin) SetExternalKubeClientSet(c kubernetes.Interface) { p.client = c }

// ValidateInitialization fails the API server's start when the plugin cannot read namespaces.
func (p *Plugin) ValidateInitialization() error {
	if p.namespaces == nil || p.client == nil {
		return errors.New(PluginName + ": missing namespace lister or client")
	}
	return nil
}

var (
	podsResource     = corev1.Resource("pods")
	servicesResource = corev1.Resource("services")
	pvsResource      = corev1.Resource("persistentvolumes")
	ingresses        = networkingv1.Resource("ingresses")
)

// templateKinds are the workloads whose pod template is checked at once, so that a refused
// pod is reported to whoever applies the Deployment, not only in a ReplicaSet's events.
var templateKinds = map[schema.GroupResource]func() runtime.Object{
	corev1.Resource("podtemplates"):           func() runtime.Object { return &corev1.PodTemplate{} },
	corev1.Resource("replicationcontrollers"): func() runtime.Object { return &corev1.ReplicationController{} },
	appsv1.Resource("deployments"):            func() runtime.Object { return &appsv1.Deployment{} },
	appsv1.Resource("replicasets"):            func() runtime.Object { return &appsv1.ReplicaSet{} },
	appsv1.Resource("statefulsets"):           func() runtime.Object { return &appsv1.StatefulSet{} },
	appsv1.Resource("daemonsets"):             func() runtime.Object { return &appsv1.DaemonSet{} },
	batchv1.Resource("jobs"):                  func() runtime.Object { return &batchv1.Job{} },
	batchv1.Resource("cronjobs"):              func() runtime.Object { return &batchv1.CronJob{} },
}

// Validate refuses what the policy forbids. An update is refused only when it adds a
// violation: objects admitted under an earlier, looser configuration can still be
// relabelled, finalized and deleted.
func (p *Plugin) Validate(ctx context.Context, a k8sadmission.Attributes, _ k8sadmission.ObjectInterfaces) error {
	gr := a.GetResource().GroupResource()
	sub := a.GetSubresource()
	var check func(obj runtime.Object) (string, error)
	switch {
	case gr == podsResource && (sub == "" || sub == "ephemeralcontainers"):
		check = func(obj runtime.Object) (string, error) {
			pod := &corev1.Pod{}
			if err := p.convert(obj, pod); err != nil {
				return "", err
			}
			return p.pod(ctx, a.GetNamespace(), &pod.ObjectMeta, &pod.Spec)
		}
	case templateKinds[gr] != nil && sub == "":
		check = func(obj runtime.Object) (string, error) {
			out := templateKinds[gr]()
			if err := p.convert(obj, out); err != nil {
				return "", err
			}
			meta, spec := podTemplate(out)
			if spec == nil {
				return "", nil
			}
			return p.pod(ctx, a.GetNamespace(), meta, spec)
		}
	case gr == servicesResource && sub == "":
		check = func(obj runtime.Object) (string, error) {
			s := &corev1.Service{}
			if err := p.convert(obj, s); err != nil {
				return "", err
			}
			return p.policy.Service(s), nil
		}
	case gr == ingresses && sub == "":
		check = func(runtime.Object) (string, error) { return p.policy.Ingress(), nil }
	case gr == pvsResource && sub == "":
		check = func(obj runtime.Object) (string, error) {
			pv := &corev1.PersistentVolume{}
			if err := p.convert(obj, pv); err != nil {
				return "", err
			}
			return p.policy.PersistentVolume(pv), nil
		}
	default:
		return nil
	}
	why, err := check(a.GetObject())
	if err != nil {
		return k8sadmission.NewForbidden(a, fmt.Errorf("%s: %w", PluginName, err))
	}
	if why == "" {
		return nil
	}
	if a.GetOperation() == k8sadmission.Update && a.GetOldObject() != nil {
		if old, err := check(a.GetOldObject()); err == nil && old == why {
			return nil
		}
	}
	return k8sadmission.NewForbidden(a, errors.New(why))
}

func (p *Plugin) pod(ctx context.Context, namespace string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) (string, error) {
	labels, err := p.namespaceLabels(ctx, namespace)
	if err != nil {
		return "", err
	}
	return p.policy.Pod(labels, meta, spec), nil
}

// namespaceLabels reads from the informer, and from the API when the namespace is newer
// than the informer's view. A namespace that cannot be read counts as unlabelled: labels
// can only raise the level, so the configured level still applies.
func (p *Plugin) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	if p.namespaces != nil {
		if ns, err := p.namespaces.Get(name); err == nil {
			return ns.Labels, nil
		}
	}
	if p.client == nil {
		return nil, nil
	}
	ns, err := p.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil //nolint:nilerr // see above: the configured level applies
	}
	return ns.Labels, nil
}

func (p *Plugin) convert(in runtime.Object, out runtime.Object) error {
	if reflect.TypeOf(in) == reflect.TypeOf(out) {
		reflect.ValueOf(out).Elem().Set(reflect.ValueOf(in).Elem())
		return nil
	}
	if err := p.scheme.Convert(in, out, nil); err != nil {
		return fmt.Errorf("convert %T: %w", in, err)
	}
	return nil
}

func podTemplate(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
	var t *corev1.PodTemplateSpec
	switch o := obj.(type) {
	case *corev1.PodTemplate:
		t = &o.Template
	case *corev1.ReplicationController:
		t = o.Spec.Template
	case *appsv1.Deployment:
		t = &o.Spec.Template
	case *appsv1.ReplicaSet:
		t = &o.Spec.Template
	case *appsv1.StatefulSet:
		t = &o.Spec.Template
	case *appsv1.DaemonSet:
		t = &o.Spec.Template
	case *batchv1.Job:
		t = &o.Spec.Template
	case *batchv1.CronJob:
		t = &o.Spec.JobTemplate.Spec.Template
	}
	if t == nil {
		return nil, nil
	}
	return &t.ObjectMeta, &t.Spec
}
