package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/install"
)

// sleepResult is what a sleeping tenant costs and how fast it answers again.
type sleepResult struct {
	wake          []time.Duration // request through the gateway to a sleeping tenant -> answer
	attempts      []int           // requests it took (client-go may give up on a held handshake)
	awake         []time.Duration // the same request to the awake tenant
	asleepPods    int             // pods in the tenant's host namespace while it sleeps
	asleepCPU     string          // CPU and memory requested by them
	asleepMem     string
	gatewayBefore int64 // operator (gateway included) RSS before the cycles
	gatewayAfter  int64 // and after
}

// sleepCycles puts tenant name to sleep n times and wakes it each time with one request
// through the gateway (as a tenant's kubectl would), timing the answer.
func sleepCycles(ctx context.Context, b bench, name string, n int) (sleepResult, error) {
	var r sleepResult
	h, err := host.Options{Kubeconfig: host.DevhostKubeconfig}.Connect(host.ProcessEnv(), logr.Discard())
	if err != nil {
		return r, err
	}
	cs, err := kubernetes.NewForConfig(h.Config)
	if err != nil {
		return r, err
	}
	if r.gatewayBefore, err = processRSS("kplexd", "operator"); err != nil {
		return r, err
	}
	for i := range n {
		gw, err := gatewayClient(ctx, cs, name)
		if err != nil {
			return r, err
		}
		start := time.Now()
		if _, err := gw.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
			return r, fmt.Errorf("request to awake tenant %s: %w", name, err)
		}
		r.awake = append(r.awake, time.Since(start))

		if _, err := b.kplex(ctx, "sleep", name, "--wait"); err != nil {
			return r, err
		}
		pods, err := cs.CoreV1().Pods(v1alpha1.HostNamespace(name)).List(ctx, metav1.ListOptions{})
		if err != nil {
			return r, err
		}
		r.asleepPods = len(pods.Items)
		cpu, mem := requests(pods.Items)
		r.asleepCPU, r.asleepMem = cpu, mem

		// Repeated as a user would when client-go gives up on a held handshake (the gateway's
		// open question); the time is from the first request to the first answer.
		start = time.Now()
		attempts := 0
		for {
			attempts++
			_, err := gw.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err == nil {
				break
			}
			if time.Since(start) > 3*time.Minute {
				return r, fmt.Errorf("request through the gateway to sleeping tenant %s: no answer after %s: %w", name, time.Since(start).Round(time.Second), err)
			}
		}
		r.wake = append(r.wake, time.Since(start))
		r.attempts = append(r.attempts, attempts)
		fmt.Printf("sleep/wake %d: answered %.1f s after the first request, at attempt %d (%d pods while asleep)\n", i+1, r.wake[i].Seconds(), attempts, r.asleepPods)
	}
	if r.gatewayAfter, err = processRSS("kplexd", "operator"); err != nil {
		return r, err
	}
	return r, nil
}

// gatewayClient is the tenant's published gateway kubeconfig, dialling the operator pod's
// gateway port (the machine reaches pod addresses, not Service addresses).
func gatewayClient(ctx context.Context, cs kubernetes.Interface, name string) (kubernetes.Interface, error) {
	s, err := cs.CoreV1().Secrets(v1alpha1.HostNamespace(name)).Get(ctx, install.KubeconfigSecret, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(s.Data[v1alpha1.GatewayKubeconfigSecretKey])
	if err != nil {
		return nil, fmt.Errorf("gateway kubeconfig of %s: %w", name, err)
	}
	pods, err := cs.CoreV1().Pods(install.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, install.OperatorName+"-") && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			cfg.Host = fmt.Sprintf("https://%s:%d", p.Status.PodIP, install.GatewayPort)
			return kubernetes.NewForConfig(cfg)
		}
	}
	return nil, fmt.Errorf("no running operator pod in %s", install.Namespace)
}

// requests sums what pods request, as the host's quota counts it.
func requests(pods []corev1.Pod) (cpu, mem string) {
	var c, m int64
	for _, p := range pods {
		for _, ctr := range p.Spec.Containers {
			c += ctr.Resources.Requests.Cpu().MilliValue()
			m += ctr.Resources.Requests.Memory().Value()
		}
	}
	return fmt.Sprintf("%dm", c), fmt.Sprintf("%d MiB", m>>20)
}
