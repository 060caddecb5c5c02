package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kplex-dev/kplex/internal/cli/output"
)

func TestReportTableAndJSON(t *testing.T) {
	long := "refused: " + strings.Repeat("x", 300) + "\n  second line"
	r := newReport("a", "restricted", []Result{
		{Check: "admission: hostPID", Result: Pass, Evidence: long},
		{Check: "admission: running as root", Result: Skip, Evidence: "baseline allows it"},
	})
	if err := r.Err(); err != nil {
		t.Errorf("no FAIL, no ERROR: %v", err)
	}
	var b bytes.Buffer
	if err := write(&b, output.Table, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "CHECK") || !strings.Contains(lines[1], "PASS") {
		t.Fatalf("table:\n%s", b.String())
	}
	if !strings.HasSuffix(lines[1], "...") || strings.Contains(lines[1], "second") {
		t.Errorf("evidence not cut to one line: %q", lines[1])
	}
	if lines[4] != "2 checks: 1 PASS, 0 FAIL, 1 SKIP, 0 ERROR" {
		t.Errorf("summary %q", lines[4])
	}

	b.Reset()
	if err := write(&b, output.JSON, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Results[0].Evidence != long || back.Summary["PASS"] != 1 || back.Summary["FAIL"] != 0 || back.VirtualCluster != "a" {
		t.Errorf("JSON lost evidence or counts: %+v", back)
	}
}

func TestReportErr(t *testing.T) {
	fail := newReport("a", "restricted", []Result{{Result: Pass}, {Result: Fail}, {Result: Error}})
	if err := fail.Err(); err == nil || !strings.Contains(err.Error(), "1 of 3 audit checks of a FAILED") {
		t.Errorf("FAIL: %v", err)
	}
	broken := newReport("a", "restricted", []Result{{Result: Pass}, {Result: Error}})
	if err := broken.Err(); err == nil || !strings.Contains(err.Error(), "could not run") || !strings.Contains(err.Error(), "kplex audit a") {
		t.Errorf("ERROR: %v", err)
	}
}

func TestRefused(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New(`violates PodSecurity "restricted:latest": host namespaces`))
	if o, ev := refused(forbidden, "", nil); o != Pass || !strings.Contains(ev, "violates PodSecurity") || !strings.Contains(ev, "403") {
		t.Errorf("forbidden: %s %q", o, ev)
	}
	undone := false
	if o, ev := refused(nil, "admitted: pod x", func() { undone = true }); o != Fail || ev != "admitted: pod x" || !undone {
		t.Errorf("admitted: %s %q undone %v", o, ev, undone)
	}
	if o, _ := refused(apierrors.NewInternalError(errors.New("etcd down")), "", nil); o != Error {
		t.Errorf("a 500 is no refusal: %s", o)
	}
	if o, _ := refused(errors.New("connection refused"), "", nil); o != Error {
		t.Errorf("no answer is no refusal: %s", o)
	}
}

func TestProbeOutcome(t *testing.T) {
	r := &probeResults{
		open:  map[string]bool{"own-pod": true, "own-service": false, "other-pod": false, "metadata": true},
		addrs: map[string]string{"own-pod": "10.0.0.1:8080", "own-service": "10.96.0.5:8080", "other-pod": "10.0.1.1:8080", "metadata": "169.254.169.254:80", "host-api-service": "10.96.0.1:443"},
		skips: map[string]string{"other-service": "tenant b has no workload Service"},
		errs:  map[string]string{},
	}
	for id, want := range map[string]Outcome{
		"own-pod": Pass, "own-service": Error, "other-pod": Pass, "metadata": Fail, "other-service": Skip, "host-api-service": Error,
	} {
		if o, ev := r.outcome(id); o != want {
			t.Errorf("%s: %s (%s), want %s", id, o, ev, want)
		}
	}
	if _, ev := r.outcome("metadata"); !strings.Contains(ev, "169.254.169.254:80") {
		t.Errorf("evidence names no address: %q", ev)
	}
}

func TestGroupSetupFailureIsError(t *testing.T) {
	ran := false
	g := group{name: "network", setup: func(context.Context, *env) string { return "positive control failed" }, checks: []check{
		{"x", func(context.Context, *env) (Outcome, string) { ran = true; return Pass, "" }},
	}}
	got := g.run(context.Background(), &env{})
	if ran || len(got) != 1 || got[0].Result != Error || got[0].Check != "network: x" || got[0].Evidence != "positive control failed" {
		t.Errorf("%+v (check ran: %v)", got, ran)
	}
}

func TestQuotaChanges(t *testing.T) {
	q := func(name, cpu string) corev1.ResourceQuota {
		return corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(cpu)}}}
	}
	before := []corev1.ResourceQuota{q("kplex-quota", "4")}
	if d := quotaChanges(before, []corev1.ResourceQuota{q("kplex-quota", "4000m")}); d != "" {
		t.Errorf("equal quantities differ: %q", d)
	}
	d := quotaChanges(before, []corev1.ResourceQuota{q("kplex-quota", "1000000"), q("extra", "1")})
	if !strings.Contains(d, "requests.cpu=4 -> requests.cpu=1M") || !strings.Contains(d, "new ResourceQuota extra") {
		t.Errorf("changes %q", d)
	}
	if d := quotaChanges(before, nil); d != "ResourceQuota kplex-quota deleted" {
		t.Errorf("deleted: %q", d)
	}
}
