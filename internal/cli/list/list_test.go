package list

import (
	"bytes"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

func TestTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := &v1alpha1.VirtualClusterList{Items: []v1alpha1.VirtualCluster{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: metav1.NewTime(now.Add(-90 * time.Minute))},
			Spec:   v1alpha1.VirtualClusterSpec{Expose: v1alpha1.Expose{Type: v1alpha1.ExposeClusterIP}},
			Status: v1alpha1.VirtualClusterStatus{Phase: v1alpha1.PhaseReady, Endpoint: "https://kplex.kplex-a.svc:443"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-b", CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Second))}},
	}}
	var b bytes.Buffer
	if err := Write(&b, output.Table, l, now); err != nil {
		t.Fatal(err)
	}
	want := "NAME     PHASE     EXPOSE      ENDPOINT                        HOST NAMESPACE   AGE\n" +
		"a        Ready     ClusterIP   https://kplex.kplex-a.svc:443   kplex-a          90m\n" +
		"team-b   Pending   <none>      <none>                          kplex-team-b     5s\n"
	if b.String() != want {
		t.Errorf("table\n%s\nwant\n%s", b.String(), want)
	}
}
