package create

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// SpecFlags are the flags that shape the VirtualCluster's spec. Empty
// values leave the field to the API's defaults.
type SpecFlags struct {
	Expose          string
	PodSecurity     string
	StorageSize     string
	StorageClass    string
	DatastoreSecret string // NAME or NAME:KEY, in kplex-system
	Image           string
	SyncQPS         int32
	SyncBurst       int32
	SleepAfter      time.Duration // 0: never sleeps by itself
}

// Spec maps the flags to a spec, refusing what the API would refuse with a
// message in the flags' terms (the API server checks again).
func (f SpecFlags) Spec() (v1alpha1.VirtualClusterSpec, error) {
	var spec v1alpha1.VirtualClusterSpec
	// The API defaults a missing datastore type, but the Go type always sends
	// the field, so the default is spelled out here.
	spec.Datastore.Type = v1alpha1.DatastoreEmbedded
	if f.Expose != "" {
		t, err := oneOf("--expose", f.Expose, v1alpha1.ExposeClusterIP, v1alpha1.ExposeNodePort, v1alpha1.ExposeLoadBalancer)
		if err != nil {
			return spec, err
		}
		spec.Expose.Type = t
	}
	if f.PodSecurity != "" {
		l, err := oneOf("--pod-security", f.PodSecurity, v1alpha1.PodSecurityRestricted, v1alpha1.PodSecurityBaseline)
		if err != nil {
			return spec, err
		}
		spec.Isolation.PodSecurity = l
	}
	if f.DatastoreSecret != "" {
		if f.StorageSize != "" || f.StorageClass != "" {
			return spec, fmt.Errorf("--datastore-secret selects an external datastore: --storage-size and --storage-class are for the embedded one; pass one or the other")
		}
		name, key, _ := strings.Cut(f.DatastoreSecret, ":")
		if name == "" {
			return spec, fmt.Errorf("--datastore-secret %q: give the Secret's name (NAME or NAME:KEY, in namespace kplex-system)", f.DatastoreSecret)
		}
		spec.Datastore.Type = v1alpha1.DatastoreExternal
		spec.Datastore.External = &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: name, Key: key}}
	}
	if f.StorageSize != "" || f.StorageClass != "" {
		e := &v1alpha1.EmbeddedDatastore{}
		if f.StorageSize != "" {
			q, err := resource.ParseQuantity(f.StorageSize)
			if err != nil || q.Sign() <= 0 {
				return spec, fmt.Errorf("--storage-size %q is not a positive size: use e.g. 1Gi or 500Mi", f.StorageSize)
			}
			e.Size = &q
		}
		if f.StorageClass != "" {
			e.StorageClassName = &f.StorageClass
		}
		spec.Datastore.Embedded = e
	}
	spec.ControlPlane.Image = f.Image
	if f.SyncQPS < 0 || f.SyncBurst < 0 {
		return spec, fmt.Errorf("--sync-qps and --sync-burst must be positive (0 keeps kplexd's defaults)")
	}
	spec.Sync.QPS, spec.Sync.Burst = f.SyncQPS, f.SyncBurst
	switch {
	case f.SleepAfter < 0 || f.SleepAfter > 0 && f.SleepAfter < time.Minute:
		return spec, fmt.Errorf("--sleep-after %s: give at least 1m (e.g. 30m), or 0 to never sleep by itself", f.SleepAfter)
	case f.SleepAfter > 0:
		spec.Sleep.AfterInactivity = &metav1.Duration{Duration: f.SleepAfter}
	}
	return spec, nil
}

// oneOf matches value case-insensitively against the allowed values and
// returns the API's spelling.
func oneOf[T ~string](flag, value string, allowed ...T) (T, error) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if strings.EqualFold(value, string(a)) {
			return a, nil
		}
		names[i] = string(a)
	}
	return "", fmt.Errorf("%s %q: use one of %s", flag, value, strings.Join(names, ", "))
}
