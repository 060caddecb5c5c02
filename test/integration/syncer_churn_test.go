package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestSyncerChurnWithKills churns 500 pods through `kplexd controlplane` running the
// syncer and kills the process with SIGKILL at random points while it works. Once the
// churn is over, the host namespace must hold exactly one copy of every virtual pod that
// remains (the copy of its current UID) and nothing else: no orphans, no duplicates, no
// stale copy of a reused name, no lost virtual pod.
func TestSyncerChurnWithKills(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	const (
		ns         = "kplex-churn"
		namespaces = 5
		total      = 500
		kills      = 3
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	host := testenv.NewControlPlane(t, "--profile", "host")
	host.Start(ctx)
	hostAdmin := host.Client()
	hostKubeconfig := kubeconfigFile(t, grantSyncer(ctx, t, host, ns, "test"))
	waitServiceAccount(ctx, t, hostAdmin, ns)

	virtual := testenv.NewControlPlane(t, "--service-cidr", virtualServiceCIDR,
		"--host-kubeconfig", hostKubeconfig, "--host-namespace", ns, "--tenant-api-host", "10.0.0.10:443")
	virtual.Start(ctx)
	vAdmin := virtual.Client()
	for i := range namespaces {
		mustNamespace(ctx, t, vAdmin, fmt.Sprintf("churn-%d", i))
		waitServiceAccount(ctx, t, vAdmin, fmt.Sprintf("churn-%d", i))
	}

	// The churn runs in the background; this goroutine kills and restarts kplexd
	// (testenv's Start must run on the test goroutine).
	want := newChurnState()
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		churn(ctx, vAdmin, want, namespaces, total)
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for k := 0; k < kills; k++ {
		select {
		case <-churnDone:
		case <-time.After(time.Duration(500+rng.IntN(2500)) * time.Millisecond):
		}
		t.Logf("kill -9 kplexd (%d of %d) after %d operations", k+1, kills, want.ops())
		virtual.Kill()
		virtual.Start(ctx)
	}
	select {
	case <-churnDone:
	case <-ctx.Done():
		t.Fatalf("churn did not finish: %v", ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("churn done: %d operations, %d pods remain", want.ops(), len(want.uid))

	tr, err := translate.New(translate.Tenant{Name: "test", HostNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var last string
	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		msg, err := converged(ctx, vAdmin, hostAdmin, tr, want)
		if err == nil {
			last = msg
		}
		return err == nil && msg == "", nil
	})
	if err != nil {
		t.Fatalf("no convergence within 3 minutes: %s\n--- kplexd log ---\n%s", last, virtual.LogTail())
	}
	t.Logf("converged %s after the churn", time.Since(start).Round(time.Millisecond))
}

// churnState is what the virtual cluster must hold once the churn is over.
type churnState struct {
	mu    sync.Mutex
	uid   map[string]string // "ns/name" -> UID of the pod that must remain
	image map[string]string
	n     int
}

func newChurnState() *churnState {
	return &churnState{uid: map[string]string{}, image: map[string]string{}}
}

func (s *churnState) ops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *churnState) record(key, uid, image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if uid == "" {
		delete(s.uid, key)
		delete(s.image, key)
		return
	}
	s.uid[key], s.image[key] = uid, image
}

// churnOp is one create or delete of a virtual pod.
type churnOp struct {
	ns, name, image string
	del             bool
}

// churn creates total pods, deletes a third of them and re-creates half of those under
// the same names with another image, at about 50 operations per second.
func churn(ctx context.Context, vc kubernetes.Interface, s *churnState, namespaces, total int) {
	var creates, deletes, recreates []churnOp
	for i := range total {
		o := churnOp{ns: fmt.Sprintf("churn-%d", i%namespaces), name: fmt.Sprintf("pod-%03d", i), image: "busybox"}
		creates = append(creates, o)
		if i%3 == 0 {
			d := o
			d.del = true
			deletes = append(deletes, d)
			if i%2 == 0 {
				o.image = "busybox:2"
				recreates = append(recreates, o)
			}
		}
	}
	// Each phase finishes before the next, so that a delete never precedes its create.
	for _, phase := range [][]churnOp{creates, deletes, recreates} {
		runOps(ctx, vc, s, phase)
	}
}

// runOps runs ops with 8 workers at about 50 per second. Every operation is retried
// until it is done, as a controller would, across the kills of the API server.
func runOps(ctx context.Context, vc kubernetes.Interface, s *churnState, ops []churnOp) {
	work := make(chan churnOp)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
					return applyOp(ctx, vc, s, o), nil
				})
			}
		}()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, o := range ops {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		select {
		case work <- o:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// applyOp tries o once and records its outcome when it is done.
func applyOp(ctx context.Context, vc kubernetes.Interface, s *churnState, o churnOp) bool {
	key := o.ns + "/" + o.name
	pods := vc.CoreV1().Pods(o.ns)
	if o.del {
		err := pods.Delete(ctx, o.name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if err != nil && !apierrors.IsNotFound(err) {
			return false
		}
		s.record(key, "", "")
		return true
	}
	p := testPod(o.ns, o.name)
	p.Spec.Containers[0].Image = o.image
	got, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// A create whose answer was lost in a kill: find what was stored.
		got, err = pods.Get(ctx, o.name, metav1.GetOptions{})
	}
	if err != nil {
		return false
	}
	s.record(key, string(got.UID), got.Spec.Containers[0].Image)
	return true
}

// converged returns "" when the host namespace holds exactly the copies of want, else
// what is still wrong; an error when it could not look.
func converged(ctx context.Context, vc, hc kubernetes.Interface, tr *translate.Translator, want *churnState) (string, error) {
	want.mu.Lock()
	defer want.mu.Unlock()
	vpods, err := vc.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	virtual := map[string]corev1.Pod{}
	for _, p := range vpods.Items {
		virtual[p.Namespace+"/"+p.Name] = p
	}
	for key, uid := range want.uid {
		if p, ok := virtual[key]; !ok || string(p.UID) != uid {
			return fmt.Sprintf("virtual pod %s (uid %s) was lost", key, uid), nil
		}
	}
	if len(virtual) != len(want.uid) {
		return fmt.Sprintf("%d virtual pods, want %d", len(virtual), len(want.uid)), nil
	}
	hpods, err := hc.CoreV1().Pods(tr.Tenant().HostNamespace).List(ctx, metav1.ListOptions{LabelSelector: tr.OwnedSelector().String()})
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, hp := range hpods.Items {
		ns, name, uid, ok := tr.VirtualRef(&hp)
		key := ns + "/" + name
		switch {
		case !ok:
			return fmt.Sprintf("host pod %s records no virtual pod", hp.Name), nil
		case seen[key]:
			return fmt.Sprintf("two host pods for %s", key), nil
		case want.uid[key] == "":
			return fmt.Sprintf("orphan host pod %s of deleted %s", hp.Name, key), nil
		case string(uid) != want.uid[key]:
			return fmt.Sprintf("host pod %s is the copy of an old %s (uid %s, want %s)", hp.Name, key, uid, want.uid[key]), nil
		case hp.Spec.Containers[0].Image != want.image[key]:
			return fmt.Sprintf("host pod %s runs %s, want %s", hp.Name, hp.Spec.Containers[0].Image, want.image[key]), nil
		}
		seen[key] = true
	}
	if len(seen) != len(want.uid) {
		return fmt.Sprintf("%d host pods, want %d", len(seen), len(want.uid)), nil
	}
	// Token Secrets: one per remaining pod, none left behind by a pod that is gone.
	secrets, err := hc.CoreV1().Secrets(tr.Tenant().HostNamespace).List(ctx, metav1.ListOptions{LabelSelector: pods.LabelTokenFor})
	if err != nil {
		return "", err
	}
	for _, s := range secrets.Items {
		ns, name := s.Annotations[translate.AnnotationVirtualNamespace], s.Annotations[translate.AnnotationVirtualName]
		if want.uid[ns+"/"+name] == "" {
			return fmt.Sprintf("token secret %s of deleted pod %s/%s left behind", s.Name, ns, name), nil
		}
	}
	if len(secrets.Items) != len(want.uid) {
		return fmt.Sprintf("%d token secrets, want %d", len(secrets.Items), len(want.uid)), nil
	}
	return "", nil
}
