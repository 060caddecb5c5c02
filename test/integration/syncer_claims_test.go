package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testClaim(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "db"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

// hostVolume is a host PersistentVolume, as a host admin creates one; claim pre-binds it.
func hostVolume(name, class string, claim *corev1.ObjectReference) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			ClaimRef:                      claim,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		},
	}
}

func (e *syncEnv) hostClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return e.hostAdmin.CoreV1().PersistentVolumeClaims(hostNS).Get(ctx, e.tr.HostName(ns, name), metav1.GetOptions{})
}

func (e *syncEnv) waitHostClaim(ctx context.Context, t *testing.T, ns, name string, cond func(*corev1.PersistentVolumeClaim) bool) *corev1.PersistentVolumeClaim {
	t.Helper()
	var got *corev1.PersistentVolumeClaim
	eventually(ctx, t, "host claim of "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		c, err := e.hostClaim(ctx, ns, name)
		if err != nil {
			return false, err
		}
		got = c
		return cond == nil || cond(c), nil
	})
	return got
}

func TestSyncerClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	mustNamespace(ctx, t, e.vAdmin, "shop")
	waitServiceAccount(ctx, t, e.vAdmin, "shop")
	claims := e.vAdmin.CoreV1().PersistentVolumeClaims("shop")

	t.Run("claim is copied, bound on the host, status back", func(t *testing.T) {
		// The host admin pre-binds a volume to the host copy; the host's binder binds them.
		ref := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: hostNS, Name: e.tr.HostName("shop", "data")}
		if _, err := e.hostAdmin.CoreV1().PersistentVolumes().Create(ctx, hostVolume("pv-data", "standard", ref), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		vc, err := claims.Create(ctx, testClaim("data", "standard"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hc := e.waitHostClaim(ctx, t, "shop", "data", nil)
		if *hc.Spec.StorageClassName != "standard" || hc.Labels["vl.kplex.dev/app"] != "db" || hc.Annotations["kplex.dev/virtual-uid"] != string(vc.UID) {
			t.Errorf("host claim: class %v, labels %v, annotations %v", hc.Spec.StorageClassName, hc.Labels, hc.Annotations)
		}
		eventually(ctx, t, "virtual claim bound", func(ctx context.Context) (bool, error) {
			c, err := claims.Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return c.Status.Phase == corev1.ClaimBound && c.Status.Capacity.Storage().String() == "1Gi" && len(c.Status.AccessModes) == 1, nil
		})
		if c, _ := claims.Get(ctx, "data", metav1.GetOptions{}); c.Spec.VolumeName != "" {
			t.Errorf("virtual claim names host volume %q", c.Spec.VolumeName)
		}
	})

	t.Run("labels follow; a deleted host copy is recreated", func(t *testing.T) {
		eventually(ctx, t, "label update", func(ctx context.Context) (bool, error) {
			c, err := claims.Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			c.Labels["tier"] = "gold"
			_, err = claims.Update(ctx, c, metav1.UpdateOptions{})
			return err == nil, err
		})
		old := e.waitHostClaim(ctx, t, "shop", "data", func(c *corev1.PersistentVolumeClaim) bool { return c.Labels["vl.kplex.dev/tier"] == "gold" })
		if err := e.hostAdmin.CoreV1().PersistentVolumeClaims(hostNS).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitHostClaim(ctx, t, "shop", "data", func(c *corev1.PersistentVolumeClaim) bool { return c.UID != old.UID })
		if _, err := claims.Get(ctx, "data", metav1.GetOptions{}); err != nil {
			t.Errorf("virtual claim after its host copy vanished: %v", err)
		}
	})

	t.Run("hostile claims never reach a host volume", func(t *testing.T) {
		if _, err := e.hostAdmin.CoreV1().PersistentVolumes().Create(ctx, hostVolume("bank-pv", "vault", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		grab := testClaim("grab", "vault")
		grab.Spec.VolumeName = "bank-pv"
		if _, err := claims.Create(ctx, grab, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sel := testClaim("pick", "vault")
		sel.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"owner": "bank"}}
		if _, err := claims.Create(ctx, sel, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A clone of the tenant's own claim is renamed: it can only clone the tenant's data.
		clone := testClaim("clone", "standard")
		clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data"}
		if _, err := claims.Create(ctx, clone, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		hc := e.waitHostClaim(ctx, t, "shop", "clone", nil) // synced after the two above were refused
		if hc.Spec.DataSource == nil || hc.Spec.DataSource.Name != e.tr.HostName("shop", "data") {
			t.Errorf("clone's data source %+v, want the host copy of shop/data", hc.Spec.DataSource)
		}
		for _, reason := range []string{"VolumeNameNotSupported", "SelectorNotSupported"} {
			eventually(ctx, t, "warning "+reason, func(ctx context.Context) (bool, error) {
				evs, err := e.vAdmin.EventsV1().Events("shop").List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err
				}
				for _, ev := range evs.Items {
					if ev.Reason == reason && ev.Type == corev1.EventTypeWarning && ev.Regarding.Kind == "PersistentVolumeClaim" {
						return true, nil
					}
				}
				return false, nil
			})
		}
		for _, n := range []string{"grab", "pick"} {
			if _, err := e.hostClaim(ctx, "shop", n); !apierrors.IsNotFound(err) {
				t.Errorf("host copy of refused claim %s: %v", n, err)
			}
		}
		pv, err := e.hostAdmin.CoreV1().PersistentVolumes().Get(ctx, "bank-pv", metav1.GetOptions{})
		if err != nil || pv.Spec.ClaimRef != nil {
			t.Errorf("host volume bank-pv claimed: %v %+v", err, pv.Spec.ClaimRef)
		}
	})

	t.Run("a pod's ephemeral volume is the synced claim", func(t *testing.T) {
		p := testPod("shop", "scratcher")
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: testClaim("", "standard").Spec}}}}}
		if _, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		hp := e.waitHostPod(ctx, t, "shop", "scratcher", nil)
		want := e.tr.HostName("shop", "scratcher-scratch")
		if v := hp.Spec.Volumes[0]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != want {
			t.Errorf("host pod volume %+v, want claim %s", v.VolumeSource, want)
		}
		e.waitHostClaim(ctx, t, "shop", "scratcher-scratch", nil)
	})

	t.Run("deleting the virtual claim deletes the host claim", func(t *testing.T) {
		if err := claims.Delete(ctx, "clone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(ctx, t, "host claim gone", func(ctx context.Context) (bool, error) {
			_, err := e.hostClaim(ctx, "shop", "clone")
			return apierrors.IsNotFound(err), nil
		})
	})
}
