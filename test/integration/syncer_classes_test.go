package integration

import (
	"context"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/hostclasses"
)

func TestSyncerClasses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	hostSC, vSC := e.hostAdmin.StorageV1().StorageClasses(), e.vAdmin.StorageV1().StorageClasses()

	_, err := hostSC.Create(ctx, &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{hostclasses.AnnotationDefaultStorageClass: "true", "owner": "infra"}},
		Provisioner:          "csi.example.com",
		Parameters:           map[string]string{"csi.storage.k8s.io/provisioner-secret-name": "cloud-creds"},
		MountOptions:         []string{"nfsvers=4.1"},
		AllowVolumeExpansion: ptr.To(true),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.hostAdmin.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx", Parameters: &networkingv1.IngressClassParametersReference{
			Kind: "ConfigMap", Name: "nginx-internal", Namespace: ptr.To("ingress-system"), Scope: ptr.To("Namespace")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitClass := func(t *testing.T, cond func(*storagev1.StorageClass) bool) *storagev1.StorageClass {
		t.Helper()
		var got *storagev1.StorageClass
		eventually(ctx, t, "virtual storage class standard", func(ctx context.Context) (bool, error) {
			c, err := vSC.Get(ctx, "standard", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = c
			return cond == nil || cond(c), nil
		})
		return got
	}

	t.Run("host classes are shown without their parameters", func(t *testing.T) {
		c := waitClass(t, nil)
		if c.Provisioner != "csi.example.com" || c.Parameters != nil || c.MountOptions != nil || !*c.AllowVolumeExpansion ||
			*c.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || c.Annotations[hostclasses.AnnotationDefaultStorageClass] != "true" ||
			c.Annotations["owner"] != "" || c.Labels[hostclasses.LabelFromHost] != "true" {
			t.Errorf("virtual storage class = %+v", c)
		}
		eventually(ctx, t, "virtual ingress class nginx", func(ctx context.Context) (bool, error) {
			ic, err := e.vAdmin.NetworkingV1().IngressClasses().Get(ctx, "nginx", metav1.GetOptions{})
			return err == nil && ic.Spec.Controller == "k8s.io/ingress-nginx" && ic.Spec.Parameters == nil, err
		})
		// The virtual default-class admission now fills in the host's default.
		mustNamespace(ctx, t, e.vAdmin, "shop")
		pvc := testClaim("data", "")
		pvc.Spec.StorageClassName = nil
		got, err := e.vAdmin.CoreV1().PersistentVolumeClaims("shop").Create(ctx, pvc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "standard" {
			t.Errorf("claim without a class got class %v, want the host's default", got.Spec.StorageClassName)
		}
	})

	t.Run("tenant edits and deletions are reverted", func(t *testing.T) {
		eventually(ctx, t, "tenant edit", func(ctx context.Context) (bool, error) {
			c, err := vSC.Get(ctx, "standard", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			c.AllowVolumeExpansion = ptr.To(false)
			delete(c.Labels, hostclasses.LabelFromHost)
			_, err = vSC.Update(ctx, c, metav1.UpdateOptions{})
			return err == nil, err
		})
		waitClass(t, func(c *storagev1.StorageClass) bool {
			return *c.AllowVolumeExpansion && c.Labels[hostclasses.LabelFromHost] == "true"
		})
		old := waitClass(t, nil)
		if err := vSC.Delete(ctx, "standard", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitClass(t, func(c *storagev1.StorageClass) bool { return c.UID != old.UID })
	})

	t.Run("the tenant's own classes stay its own", func(t *testing.T) {
		if _, err := vSC.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "mine"}, Provisioner: "tenant.example/local",
			Parameters: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The host class goes away: its copy follows; the tenant's class stays.
		if err := hostSC.Delete(ctx, "standard", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(ctx, t, "copy of a deleted host class removed", func(ctx context.Context) (bool, error) {
			_, err := vSC.Get(ctx, "standard", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if c, err := vSC.Get(ctx, "mine", metav1.GetOptions{}); err != nil || c.Parameters["k"] != "v" {
			t.Errorf("tenant's own class: %v %+v", err, c)
		}
		if _, err := hostSC.Get(ctx, "mine", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("tenant's class reached the host: %v", err)
		}
	})
}
