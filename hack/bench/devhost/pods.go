package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

const benchNamespace = "bench-pods"

// createNamespace makes the benchmark's namespace and waits until pods can be created in it.
func createNamespace(ctx context.Context, client kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitServiceAccount(ctx, client)
}

// podSequential creates n pods one after the other, each once the previous
// one runs, and measures create to Running: the latency a test sees.
func podSequential(ctx context.Context, client kubernetes.Interface, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("s%03d", i)
		w, err := client.CoreV1().Pods(benchNamespace).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := client.CoreV1().Pods(benchNamespace).Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
			w.Stop()
			return nil, err
		}
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && pod.Status.Phase == corev1.PodRunning {
				out = append(out, time.Since(start))
				break
			}
		}
		w.Stop()
		if len(out) != i+1 {
			return nil, fmt.Errorf("pod %s: watch ended before it ran", name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// podStartup creates n pods at once and measures, per pod, the time from its
// create call to the watch event that shows it Running.
func podStartup(ctx context.Context, client kubernetes.Interface, n int) ([]time.Duration, error) {
	w, err := client.CoreV1().Pods(benchNamespace).Watch(ctx, metav1.ListOptions{LabelSelector: "bench=burst"})
	if err != nil {
		return nil, err
	}
	defer w.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("p%03d", i)
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if _, err := client.CoreV1().Pods(benchNamespace).Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("create pod: %w", err)
	}

	running := map[string]time.Duration{}
	timeout := time.After(5 * time.Minute)
	for len(running) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("pod watch closed")
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || pod.Status.Phase != corev1.PodRunning {
				continue
			}
			if _, seen := running[pod.Name]; !seen {
				mu.Lock()
				running[pod.Name] = time.Since(created[pod.Name])
				mu.Unlock()
			}
		case <-timeout:
			return nil, fmt.Errorf("only %d of %d pods Running after 5 minutes", len(running), n)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]time.Duration, 0, n)
	for _, d := range running {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func benchPod(name string) *corev1.Pod {
	grace := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": burstOrSequential(name)}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "c", Image: "localhost/kplex/testbox:v1", ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"},
			}},
		},
	}
}

func waitServiceAccount(ctx context.Context, client kubernetes.Interface) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := client.CoreV1().ServiceAccounts(benchNamespace).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no default service account in %s after a minute", benchNamespace)
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	if i < 1 {
		i = 1
	}
	if i > len(sorted) {
		i = len(sorted)
	}
	return sorted[i-1]
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return percentile(s, .5)
}

func burstOrSequential(name string) string {
	if name[0] == 's' {
		return "sequential"
	}
	return "burst"
}
