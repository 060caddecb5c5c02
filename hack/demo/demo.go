package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/readyz"
)

type tenant struct {
	name string
	port int
	dir  string
}

func (t tenant) kubeconfig() string { return filepath.Join(t.dir, "kubeconfig", "admin.kubeconfig") }

func run(ctx context.Context, bin, dir string) error {
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Printf("[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	tenants := []tenant{{"tenant-a", 17443, filepath.Join(dir, "tenant-a")}, {"tenant-b", 17444, filepath.Join(dir, "tenant-b")}}
	clients := map[string]kubernetes.Interface{}
	for _, t := range tenants {
		step("starting %s: its own kube-apiserver, controllers and datastore (kplexd controlplane)", t.name)
		if err := startTenant(bin, t); err != nil {
			return err
		}
	}
	for _, t := range tenants {
		cs, err := waitReady(ctx, t)
		if err != nil {
			return err
		}
		clients[t.name] = cs
		step("%s ready at https://127.0.0.1:%d", t.name, t.port)
	}
	for _, t := range tenants {
		cs := clients[t.name]
		ns := t.name + "-shop"
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := deploy(ctx, cs, ns); err != nil {
			return err
		}
		step("%s: created namespace %s and Deployment web (2 replicas)", t.name, ns)
	}
	for _, t := range tenants {
		if err := waitPods(ctx, clients[t.name], t.name+"-shop", 2); err != nil {
			return err
		}
	}
	fmt.Println()
	for _, t := range tenants {
		nss, err := clients[t.name].CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var names []string
		for _, n := range nss.Items {
			names = append(names, n.Name)
		}
		pods, _ := clients[t.name].CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		fmt.Printf("  %s sees namespaces: %s; pods: %d (its own)\n", t.name, strings.Join(names, ", "), len(pods.Items))
	}
	other := tenants[1]
	stolen, err := clientcmd.BuildConfigFromFlags("", tenants[0].kubeconfig())
	if err != nil {
		return err
	}
	stolen.Host = fmt.Sprintf("https://127.0.0.1:%d", other.port)
	stolen.TLSClientConfig.Insecure, stolen.TLSClientConfig.CAData, stolen.TLSClientConfig.CAFile = true, nil, ""
	_, err = kubernetes.NewForConfigOrDie(stolen).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	fmt.Printf("  tenant-a's admin credentials used against tenant-b: %s\n", verdict(err))
	fmt.Println()
	fmt.Println("Pods stay Pending here: each tenant is a control plane only; the devhost and the syncer run them on real nodes.")
	fmt.Println("Connect:")
	for _, t := range tenants {
		fmt.Printf("  export KUBECONFIG=%s   # %s\n", t.kubeconfig(), t.name)
	}
	fmt.Println("Stop: make demo-down")
	return nil
}

func verdict(err error) string {
	if apierrors.IsUnauthorized(err) {
		return "refused (401 Unauthorized)"
	}
	if err == nil {
		return "ACCEPTED: isolation broken"
	}
	return "refused (" + err.Error() + ")"
}

func startTenant(bin string, t tenant) error {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	if pid, err := readPID(t.dir); err == nil && syscall.Kill(pid, 0) == nil {
		return nil // already running from an earlier `make demo`
	}
	log, err := os.OpenFile(filepath.Join(t.dir, "kplexd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "kplexd"), "controlplane", "--name", t.name, "--data-dir", t.dir, "--secure-port", strconv.Itoa(t.port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the demo command
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run `make build` first)", t.name, err)
	}
	return os.WriteFile(filepath.Join(t.dir, "kplexd.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

func readPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kplexd.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func waitReady(ctx context.Context, t tenant) (kubernetes.Interface, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cs kubernetes.Interface
	connect := func() (rest.Interface, error) {
		rc, err := clientcmd.BuildConfigFromFlags("", t.kubeconfig())
		if err != nil {
			return nil, err // kubeconfig not written yet
		}
		if cs, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, err
		}
		return cs.Discovery().RESTClient(), nil
	}
	if err := readyz.Poll(ctx, 200*time.Millisecond, connect, nil, nil); err != nil {
		return nil, fmt.Errorf("%s not ready after 2 minutes: see %s", t.name, filepath.Join(t.dir, "kplexd.log"))
	}
	return cs, nil
}

func deploy(ctx context.Context, cs kubernetes.Interface, ns string) error {
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "kplex/testbox:v1", ImagePullPolicy: corev1.PullNever}}}}}}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func waitPods(ctx context.Context, cs kubernetes.Interface, ns string, n int) error {
	for range 300 {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) >= n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the controllers did not create the Deployment's pods within 30 s")
}

func stopAll(dir string) error {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		td := filepath.Join(dir, e.Name())
		if pid, err := readPID(td); err == nil {
			if syscall.Kill(pid, syscall.SIGTERM) == nil {
				for range 100 {
					if syscall.Kill(pid, 0) != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				fmt.Printf("stopped %s (pid %d)\n", e.Name(), pid)
			}
		}
	}
	return os.RemoveAll(dir)
}
