package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// TestE2EEvents: a tenant's pod runs on a real node; the host scheduler's and kubelet's
// events about its host copy appear on the virtual pod, speaking of the virtual pod only.
func TestE2EEvents(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, tenants := operatorTenants(ctx, t, env, "ev")
	cs := tenants["ev"]
	waitFor(t, "default service account", time.Minute, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	if _, err := cs.CoreV1().Pods("default").Create(ctx, tenantPod(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vp := waitVirtualRunning(t, cs, "default", "work")
	where := hostPod(t, "ev", "default", "work")
	hp, err := env.client.CoreV1().Pods(where[0]).Get(ctx, where[1], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var list []corev1.Event
	waitFor(t, "Scheduled, Created and Started events on the virtual pod", 2*time.Minute, func(ctx context.Context) (bool, error) {
		list, err = virtualPodEvents(ctx, cs, vp)
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, ev := range list {
			seen[ev.Reason] = true
		}
		if !seen["Scheduled"] || !seen["Created"] || !seen["Started"] {
			return false, fmt.Errorf("reasons so far: %v", seen)
		}
		return true, nil
	})
	for _, ev := range list {
		t.Logf("virtual event %s %s from %s/%s: %s", ev.Type, ev.Reason, ev.ReportingController, ev.ReportingInstance, ev.Message)
		shown := fmt.Sprintf("%s %+v %+v %s", ev.Message, ev.InvolvedObject, ev.Source, ev.ReportingInstance)
		for _, host := range []string{hp.Namespace, hp.Name, string(hp.UID)} {
			if strings.Contains(shown, host) {
				t.Errorf("virtual event %s shows the host's %q: %s", ev.Reason, host, shown)
			}
		}
		if ev.Reason == "Scheduled" && ev.Message != "Successfully assigned default/work to "+vp.Spec.NodeName {
			t.Errorf("Scheduled event says %q", ev.Message)
		}
	}
}

func virtualPodEvents(ctx context.Context, cs kubernetes.Interface, vp *corev1.Pod) ([]corev1.Event, error) {
	l, err := cs.CoreV1().Events(vp.Namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.uid": string(vp.UID)}.String()})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}
