package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/translate"
)

const (
	syncerBegin = "<!-- bench:syncer:begin -->"
	syncerEnd   = "<!-- bench:syncer:end -->"
	benchHostNS = "kplex-bench"
	throttleLog = "held back by its own rate limit"
)

// syncerResult holds, per pod, how long the syncer took and how long the same step takes
// on the host API server alone (the baseline: a pod created directly on a real cluster).
type syncerResult struct {
	pods, rate           int
	toHost, direct       []time.Duration // create call -> pod seen in a host watch
	totalSync, totalHost time.Duration   // first create -> last pod seen
	statusBack, statusOn []time.Duration // host status update -> seen in the virtual (or host) watch
	throttled            bool
	syncerRSS            int64
	// requests made to each API server while the pods went through the syncer, by
	// verb, resource and subresource.
	hostRequests, virtualRequests map[string]float64
	loadBefore, loadAfter         string
	// CPU time used by the host's and the tenant's kplexd while the pods went through the
	// syncer, and by the host's while the same pods were created directly.
	hostCPU, tenantCPU, directCPU time.Duration
}

// benchSyncer runs a host control plane and a tenant's kplexd with the syncer, creates
// o.syncPods pods in the tenant at o.syncRate per second and times them on their way to
// the host and their status on its way back; then does the same directly on the host.
func benchSyncer(ctx context.Context, o options) (r syncerResult, rerr error) {
	r.pods, r.rate = o.syncPods, o.syncRate
	r.loadBefore = loadavg()
	root, err := os.MkdirTemp("", "kplex-bench-syncer-")
	if err != nil {
		return r, err
	}
	defer func() {
		switch {
		case rerr != nil:
			rerr = fmt.Errorf("%w (logs in %s)", rerr, root)
		case o.profileDir != "":
			fmt.Fprintf(os.Stderr, "syncer: logs kept in %s\n", root) // read with the profiles
		default:
			os.RemoveAll(root)
		}
	}()
	hostDir, virtualDir := filepath.Join(root, "host"), filepath.Join(root, "virtual")
	debug, err := debugArgs(o, hostDir, virtualDir)
	if err != nil {
		return r, err
	}
	host, hc, err := startKplexd(ctx, o.bin, hostDir, append(debug[hostDir], "--profile", "host")...)
	if err != nil {
		return r, err
	}
	defer stop(host)
	nodeCtx, stopNode := context.WithCancel(ctx)
	defer stopNode()
	if err := fakeNode(nodeCtx, hc); err != nil {
		return r, err
	}
	for _, ns := range []string{benchHostNS, "direct"} {
		if err := namespace(ctx, hc, ns); err != nil {
			return r, err
		}
	}
	// The syncer runs with the host's admin kubeconfig here: its rights change nothing
	// in what is timed (the integration tests run it with exactly syncer.HostRole).
	virtual, vc, err := startKplexd(ctx, o.bin, virtualDir, append(debug[virtualDir], "--service-cidr", "10.96.128.0/20",
		"--host-kubeconfig", filepath.Join(hostDir, "kubeconfig", "admin.kubeconfig"), "--host-namespace", benchHostNS,
		"--tenant-api-host", "10.0.0.10:443")...)
	if err != nil {
		return r, err
	}
	defer stop(virtual)
	if err := namespace(ctx, vc, "bench"); err != nil {
		return r, err
	}
	tr, err := translate.New(translate.Tenant{Name: "bench", HostNamespace: benchHostNS})
	if err != nil {
		return r, err
	}

	fmt.Fprintf(os.Stderr, "syncer: %d pods at %d/s through the syncer\n", o.syncPods, o.syncRate)
	virtualKey := func(p *corev1.Pod) (string, bool) {
		ns, name, _, ok := tr.VirtualRef(p)
		return ns + "/" + name, ok
	}
	hostBefore, err := requestCounts(ctx, hc)
	if err != nil {
		return r, err
	}
	virtualBefore, err := requestCounts(ctx, vc)
	if err != nil {
		return r, err
	}
	profiled := profile(ctx, o, map[string]string{"host": hostDir, "tenant": virtualDir})
	hostCPU0, err := cpuTime(host)
	if err != nil {
		return r, err
	}
	tenantCPU0, err := cpuTime(virtual)
	if err != nil {
		return r, err
	}
	if r.toHost, r.totalSync, err = createPods(ctx, vc, "bench", o, hc, benchHostNS, virtualKey); err != nil {
		return r, err
	}
	if r.hostCPU, err = cpuTime(host); err != nil {
		return r, err
	}
	if r.tenantCPU, err = cpuTime(virtual); err != nil {
		return r, err
	}
	r.hostCPU, r.tenantCPU = r.hostCPU-hostCPU0, r.tenantCPU-tenantCPU0
	if err := profiled(); err != nil {
		return r, err
	}
	if r.hostRequests, err = requestsSince(ctx, hc, hostBefore); err != nil {
		return r, err
	}
	if r.virtualRequests, err = requestsSince(ctx, vc, virtualBefore); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "syncer: p50 %s p99 %s; requests per pod: host %s; tenant %s\n", percentile(r.toHost, .5), percentile(r.toHost, .99),
		perPod(r.hostRequests, o.syncPods), perPod(r.virtualRequests, o.syncPods))
	fmt.Fprintf(os.Stderr, "syncer: the same pods directly on the host\n")
	ownKey := func(p *corev1.Pod) (string, bool) { return p.Namespace + "/" + p.Name, true }
	directCPU0, err := cpuTime(host)
	if err != nil {
		return r, err
	}
	if r.direct, r.totalHost, err = createPods(ctx, hc, "direct", o, hc, "direct", ownKey); err != nil {
		return r, err
	}
	if r.directCPU, err = cpuTime(host); err != nil {
		return r, err
	}
	r.directCPU -= directCPU0
	fmt.Fprintf(os.Stderr, "syncer: CPU through the syncer: host %s, tenant %s; directly: host %s\n", r.hostCPU, r.tenantCPU, r.directCPU)

	fmt.Fprintf(os.Stderr, "syncer: status back\n")
	if r.statusBack, err = setRunning(ctx, hc, benchHostNS, o, func(i int) (string, string) {
		return tr.HostName("bench", podName(i)), "bench/" + podName(i)
	}, vc, "bench"); err != nil {
		return r, err
	}
	if r.statusOn, err = setRunning(ctx, hc, "direct", o, func(i int) (string, string) { return podName(i), "direct/" + podName(i) }, hc, "direct"); err != nil {
		return r, err
	}
	r.loadAfter = loadavg()
	if r.syncerRSS, _, _, err = rss(virtual); err != nil {
		return r, err
	}
	logs, _ := os.ReadFile(filepath.Join(virtualDir, "kplexd.log"))
	r.throttled = strings.Contains(string(logs), throttleLog)
	return r, nil
}

// startKplexd runs `kplexd controlplane` in dir until ready and returns an admin client.
func startKplexd(ctx context.Context, bin, dir string, args ...string) ([]*exec.Cmd, kubernetes.Interface, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	argv := append([]string{"controlplane", "--name", "bench", "--data-dir", dir, "--secure-port", strconv.Itoa(port)}, args...)
	c := command(dir, "kplexd", filepath.Join(bin, "kplexd"), argv...)
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	cmds := []*exec.Cmd{c}
	if err := waitReady(ctx, dir, port); err != nil {
		stop(cmds)
		return nil, nil, err
	}
	cs, err := client(dir)
	if err != nil {
		stop(cmds)
		return nil, nil, err
	}
	return cmds, cs, nil
}

// namespace creates ns and waits for its default service account (pods need it).
func namespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("namespace %s: no default service account after a minute", ns)
}

// seen records when a watch first shows each pod in a given state.
type seen struct {
	mu   sync.Mutex
	at   map[string]time.Time
	stop func()
}

func (s *seen) get(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[key]
	return t, ok
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

// watchSeen watches the pods of ns and records when match first holds for each key. A
// watch the server ends is resumed from the last event seen.
func watchSeen(ctx context.Context, cs kubernetes.Interface, ns string, match func(*corev1.Pod) (string, bool)) (*seen, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &seen{at: map[string]time.Time{}, stop: cancel}
	record := func(p *corev1.Pod) {
		if key, ok := match(p); ok {
			now := time.Now()
			s.mu.Lock()
			if _, dup := s.at[key]; !dup {
				s.at[key] = now
			}
			s.mu.Unlock()
		}
	}
	for i := range list.Items {
		record(&list.Items[i])
	}
	rv := list.ResourceVersion
	go func() {
		for ctx.Err() == nil {
			w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				fmt.Fprintf(os.Stderr, "watch pods in %s: %v; again\n", ns, err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if ev.Type == watch.Added || ev.Type == watch.Modified {
					record(p)
				}
			}
			w.Stop()
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "watch pods in %s ended by the server; resumed\n", ns)
			}
		}
	}()
	return s, nil
}

func podName(i int) string { return fmt.Sprintf("pod-%04d", i) }

// createPods creates o.syncPods pods in ns at o.syncRate per second and returns, per pod,
// the time from its create call to its appearance in a watch of seenNS (keyed by key), and
// the time for all of them.
func createPods(ctx context.Context, cs kubernetes.Interface, ns string, o options, seenIn kubernetes.Interface, seenNS string, key func(*corev1.Pod) (string, bool)) ([]time.Duration, time.Duration, error) {
	s, err := watchSeen(ctx, seenIn, seenNS, key)
	if err != nil {
		return nil, 0, err
	}
	defer s.stop()
	first := time.Now()
	started, err := paced(o, func(i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName(i), Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "localhost/kplex/pause:v1"}}}}
		podsecurity.Restrict(&p.Spec) // a virtual cluster admits restricted pods only
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", ns, p.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if err := waitCount(ctx, s, o.syncPods); err != nil {
		return nil, 0, fmt.Errorf("pods in %s: %w", ns, err)
	}
	lat := make([]time.Duration, o.syncPods)
	var last time.Time
	for i := range o.syncPods {
		at, _ := s.get(ns + "/" + podName(i))
		lat[i] = at.Sub(started[i])
		if at.After(last) {
			last = at
		}
	}
	return lat, last.Sub(first), nil
}

// setRunning marks each host pod Running, as a kubelet would, at o.syncRate per second,
// and returns per pod the time until a watch of seenNS sees it Running (keyed by the
// second value of names).
func setRunning(ctx context.Context, hc kubernetes.Interface, ns string, o options, names func(int) (string, string), seenIn kubernetes.Interface, seenNS string) ([]time.Duration, error) {
	s, err := watchSeen(ctx, seenIn, seenNS, func(p *corev1.Pod) (string, bool) {
		return p.Namespace + "/" + p.Name, p.Status.Phase == corev1.PodRunning
	})
	if err != nil {
		return nil, err
	}
	defer s.stop()
	started, err := paced(o, func(i int) error {
		hostName, _ := names(i)
		// The host scheduler writes the pod's status too (no node fits): retry conflicts.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := hc.CoreV1().Pods(ns).Get(ctx, hostName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			now := metav1.Now()
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), StartTime: &now,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
			_, err = hc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("set status of %s: %w", hostName, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitCount(ctx, s, o.syncPods); err != nil {
		return nil, fmt.Errorf("running pods: %w", err)
	}
	lat := make([]time.Duration, o.syncPods)
	for i := range o.syncPods {
		_, key := names(i)
		at, _ := s.get(key)
		lat[i] = at.Sub(started[i])
	}
	return lat, nil
}

// paced calls fn(0..o.syncPods-1), each in its own goroutine, o.syncRate per second, and
// returns when each call started and the first error.
func paced(o options, fn func(i int) error) ([]time.Time, error) {
	started := make([]time.Time, o.syncPods)
	errs := make(chan error, o.syncPods)
	tick := time.NewTicker(time.Second / time.Duration(o.syncRate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range o.syncPods {
		<-tick.C
		started[i] = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return started, <-errs
}

func waitCount(ctx context.Context, s *seen, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for s.count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d seen after 5 minutes", s.count(), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// writeSyncer replaces the syncer section of the markdown file (or appends it).
func writeSyncer(path string, r syncerResult, sweep []syncerResult) error {
	lat := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", float64(a)/float64(b)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## Syncer: pods from the tenant to the host (`make bench`)\n\n", syncerBegin)
	fmt.Fprintf(&b, "Measured %s on %s; load average (1, 5, 15 min) %s before, %s after. A host control plane (`kplexd --profile host` with its scheduler, and one Ready node without a kubelet that the pods are bound to) and a tenant's kplexd running the syncer at its defaults (QPS %d, burst %d), on one machine. %d pods created in the tenant at %d/s; the baseline creates the same pods directly on the host at the same rate. Ratio = through the syncer / directly on the host.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(), r.loadBefore, r.loadAfter, syncer.DefaultQPS, syncer.DefaultBurst, r.pods, r.rate)
	fmt.Fprintf(&b, "| metric | through the syncer | directly on the host | ratio |\n|---|---|---|---|\n")
	row := func(name, a, bb, rr string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, a, bb, rr) }
	for _, p := range []float64{.5, .99} {
		a, h := percentile(r.toHost, p), percentile(r.direct, p)
		row(fmt.Sprintf("create -> pod on the host, p%.0f", p*100), lat(a), lat(h), ratio(a, h))
	}
	row(fmt.Sprintf("all %d pods on the host", r.pods), fmt.Sprintf("%.2f s", r.totalSync.Seconds()), fmt.Sprintf("%.2f s", r.totalHost.Seconds()), ratio(r.totalSync, r.totalHost))
	for _, p := range []float64{.5, .99} {
		a, h := percentile(r.statusBack, p), percentile(r.statusOn, p)
		row(fmt.Sprintf("host status Running -> seen by the tenant, p%.0f", p*100), lat(a), lat(h), ratio(a, h))
	}
	throttled := "no"
	if r.throttled {
		throttled = "YES (the syncer logged that its rate limit held requests back)"
	}
	fmt.Fprintf(&b, "\nThe baseline of the status row is the same update seen by a watch on the host itself. Client-side throttling of the syncer at default settings: %s. Tenant kplexd RSS after the run (control plane + syncer): %.0f MiB.\n",
		throttled, float64(r.syncerRSS)/(1<<20))
	fmt.Fprintf(&b, "API requests per pod while the pods went through the syncer (apiserver_request_total, everything the server answered in that time, including the benchmark's own create and the watches that ended): host %s; tenant %s.\n",
		perPod(r.hostRequests, r.pods), perPod(r.virtualRequests, r.pods))
	perPodCPU := func(d time.Duration) string {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000/float64(r.pods))
	}
	cores := func(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()/float64(r.pods)*float64(r.rate)) }
	fmt.Fprintf(&b, "CPU time per pod (user + system, from the first create until the last pod was on the host): through the syncer %s (host kplexd %s, tenant kplexd %s); directly on the host %s. At %d pods/s that is %s cores through the syncer and %s directly, on this machine's %d.\n",
		perPodCPU(r.hostCPU+r.tenantCPU), perPodCPU(r.hostCPU), perPodCPU(r.tenantCPU), perPodCPU(r.directCPU), r.rate, cores(r.hostCPU+r.tenantCPU), cores(r.directCPU), runtime.NumCPU())
	fmt.Fprintf(&b, "Floor from the issue: p99 <= 100 ms per pod at 50 pods/s (kplexd: %s).\n", lat(percentile(r.toHost, .99)))
	if len(sweep) > 0 {
		fmt.Fprintf(&b, "\nBy rate: the same measurement with fresh processes at each rate (other rates: 10 s of pods each), so that the rate up to which the floor holds on this machine shows. CPU is the cores both kplexd processes (through the syncer) or the host's (directly) used while the pods were created.\n\n")
		fmt.Fprintf(&b, "| pods/s | pods | through the syncer p50 / p99 | directly p50 / p99 | p99 ratio | CPU through the syncer | CPU directly | p99 <= 100 ms |\n|---|---|---|---|---|---|---|---|\n")
		all := append(slices.Clone(sweep), r)
		slices.SortFunc(all, func(a, b syncerResult) int { return a.rate - b.rate })
		for _, s := range all {
			s99, d99 := percentile(s.toHost, .99), percentile(s.direct, .99)
			met := "no"
			if s99 <= 100*time.Millisecond {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %d | %d | %s / %s | %s / %s | %s | %.2f cores | %.2f cores | %s |\n", s.rate, s.pods,
				lat(percentile(s.toHost, .5)), lat(s99), lat(percentile(s.direct, .5)), lat(d99), ratio(s99, d99),
				(s.hostCPU+s.tenantCPU).Seconds()/s.totalSync.Seconds(), s.directCPU.Seconds()/s.totalHost.Seconds(), met)
		}
	}
	fmt.Fprintf(&b, "%s\n", syncerEnd)
	return replaceSection(path, syncerBegin, syncerEnd, b.String())
}
