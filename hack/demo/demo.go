package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// tenant is one virtual cluster of the demo and the namespace its web server runs in.
type tenant struct{ name, namespace string }

func tenants() []tenant { return []tenant{{"a", "shop"}, {"b", "blog"}} }

type demo struct {
	bin   string
	start time.Time
}

func (d *demo) step(format string, a ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

// kplex runs bin/kplex against the devhost, its output indented under the step.
func (d *demo) kplex(ctx context.Context, args ...string) error {
	return d.run(ctx, filepath.Join(d.bin, "kplex"), append([]string{"--kubeconfig", host.DevhostKubeconfig}, args...)...)
}

func (d *demo) run(ctx context.Context, name string, args ...string) error {
	d.step("$ %s %s", filepath.Base(name), strings.Join(args, " "))
	return runIndented(ctx, "    ", name, args...)
}

// runIndented runs a command, printing its output line by line after prefix.
func runIndented(ctx context.Context, prefix, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	w := &indenter{prefix: prefix}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.flush()
	if err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return nil
}

// tenantsWhere returns the names of the tenants whose existence is exists.
func (d *demo) tenantsWhere(ctx context.Context, exists bool) ([]string, error) {
	var names []string
	for _, t := range tenants() {
		ok, err := d.exists(ctx, t.name)
		if err != nil {
			return nil, err
		}
		if ok == exists {
			names = append(names, t.name)
		}
	}
	return names, nil
}

// eachTenant runs `kplex VERB NAME FLAGS...` for each name side by side, each
// line of output prefixed with its tenant.
func (d *demo) eachTenant(ctx context.Context, names []string, verb string, flags ...string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for _, name := range names {
		args := append([]string{"--kubeconfig", host.DevhostKubeconfig, verb, name}, flags...)
		d.step("$ kplex %s   (output prefixed [%s])", strings.Join(args, " "), name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runIndented(ctx, "    ["+name+"] ", filepath.Join(d.bin, "kplex"), args...)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) up(ctx context.Context) error {
	d.start = time.Now()
	d.step("kplex demo: a real host (the devhost), kplex installed on it, two tenants a and b")
	if err := d.run(ctx, filepath.Join(d.bin, "kplex-devhost"), "up"); err != nil {
		return err
	}
	if err := d.kplex(ctx, "install"); err != nil {
		return err
	}
	missing, err := d.tenantsWhere(ctx, false)
	if err != nil {
		return err
	}
	if len(missing) < len(tenants()) {
		d.step("virtual clusters from an earlier make demo are kept")
	}
	if err := d.eachTenant(ctx, missing, "create", "--wait"); err != nil {
		return err
	}
	clients := map[string]kubernetes.Interface{}
	for _, t := range tenants() {
		d.step("$ kplex connect %s --print   (a client for tenant %s)", t.name, t.name)
		cfg, stop, err := testenv.KplexConnect(ctx, filepath.Join(d.bin, "kplex"), t.name, "--kubeconfig", host.DevhostKubeconfig)
		if err != nil {
			return err
		}
		defer stop()
		if clients[t.name], err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	for _, t := range tenants() {
		d.step("tenant %s: namespace %s, pod web (busybox httpd)", t.name, t.namespace)
		if err := runWeb(ctx, clients[t.name], t.namespace); err != nil {
			return fmt.Errorf("tenant %s: %w", t.name, err)
		}
	}
	for _, t := range tenants() {
		if err := waitRunning(ctx, clients[t.name], t.namespace, "web"); err != nil {
			return fmt.Errorf("tenant %s: %w", t.name, err)
		}
	}
	d.step("both web pods run on the devhost's node")
	fmt.Println()
	for _, t := range tenants() {
		line, err := world(ctx, clients[t.name])
		if err != nil {
			return err
		}
		fmt.Printf("  tenant %s sees %s\n", t.name, line)
	}
	for _, t := range tenants() {
		fmt.Printf("  tenant %s's web pod answers: %s\n", t.name, fetchWeb(ctx, clients[t.name], t.namespace))
	}
	other := tenants()[1].namespace
	_, err = clients["a"].CoreV1().Namespaces().Get(ctx, other, metav1.GetOptions{})
	fmt.Printf("  tenant a asks for b's namespace %s: %s\n", other, verdict(err))
	hostLine, err := hostWorld(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("  the host runs %s\n", hostLine)
	fmt.Println()
	fmt.Println("Connect to a tenant (kplex connect keeps a port-forward open while it runs):")
	fmt.Printf("  sudo %s/kplex%s connect a   # adds context kplex-a to your kubeconfig; then kubectl get ns\n", d.bin, kubeconfigFlag())
	fmt.Printf("  sudo %s/kplex%s list        # the host's view; also status a, delete a --wait\n", d.bin, kubeconfigFlag())
	fmt.Println("Stop everything: sudo make demo-down")
	return nil
}

// kubeconfigFlag is empty when kplex finds the devhost by itself (root has
// no kubeconfig of its own).
func kubeconfigFlag() string {
	home, _ := os.UserHomeDir()
	if _, err := os.Stat(filepath.Join(home, ".kube", "config")); err == nil || os.Getenv("KUBECONFIG") != "" {
		return " --kubeconfig " + host.DevhostKubeconfig
	}
	return ""
}

func (d *demo) down(ctx context.Context) error {
	d.start = time.Now()
	devhost := filepath.Join(d.bin, "kplex-devhost")
	if exec.CommandContext(ctx, devhost, "status").Run() == nil {
		existing, err := d.tenantsWhere(ctx, true)
		if err != nil {
			return err
		}
		if err := d.eachTenant(ctx, existing, "delete", "--wait"); err != nil {
			return err
		}
	}
	return d.run(ctx, devhost, "down")
}

// exists says whether virtual cluster name exists (kplex status succeeds).
func (d *demo) exists(ctx context.Context, name string) (bool, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "kplex"), "--kubeconfig", host.DevhostKubeconfig, "status", name)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(out.String(), "no virtual cluster"), strings.Contains(out.String(), "not installed"):
		return false, nil
	}
	return false, fmt.Errorf("kplex status %s: %v: %s", name, err, strings.TrimSpace(out.String()))
}

// runWeb creates namespace ns and pod web in a tenant: busybox httpd, as
// Pod Security "restricted" (which the host enforces) admits.
func runWeb(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	pod := testenv.WebPod("web", "hello from "+ns)
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pod %s/web: %w", ns, err)
	}
	return nil
}

func waitRunning(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return nil
		}
		if time.Now().After(deadline) {
			state := fmt.Sprint(err)
			if err == nil {
				state = host.PodState(p)
			}
			return fmt.Errorf("pod %s/%s not running after 3m (%s)", ns, name, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// world is what a tenant sees: its namespaces and pods.
func world(ctx context.Context, c kubernetes.Interface) (string, error) {
	nss, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	var names []string
	for _, n := range nss.Items {
		names = append(names, n.Name)
	}
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	var ps []string
	for _, p := range pods.Items {
		ps = append(ps, fmt.Sprintf("%s/%s %s %s", p.Namespace, p.Name, p.Status.Phase, p.Status.PodIP))
	}
	return fmt.Sprintf("namespaces %s; pods %s", strings.Join(names, ", "), strings.Join(ps, ", ")), nil
}

// hostWorld lists the pods of the tenants' host namespaces.
func hostWorld(ctx context.Context) (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", host.DevhostKubeconfig)
	if err != nil {
		return "", err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, t := range tenants() {
		ns := v1alpha1.HostNamespace(t.name)
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		parts = append(parts, fmt.Sprintf("in %s: %s", ns, strings.Join(names, ", ")))
	}
	return strings.Join(parts, "; "), nil
}

func verdict(err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return "not found (b's world does not exist for a)"
	case err == nil:
		return "FOUND: isolation broken"
	}
	return "error: " + err.Error()
}

// indenter prints a child's output under the step, line by line.
type indenter struct {
	prefix string
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (w *indenter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		fmt.Print(w.prefix + line)
	}
}

func (w *indenter) flush() {
	if w.buf.Len() > 0 {
		fmt.Println(w.prefix + w.buf.String())
	}
}

// devhostPods is the devhost's pod network: the machine routes it through the
// devhost's veth, and the demo sends nothing anywhere else.
func devhostPods() netip.Prefix { return netip.MustParsePrefix("10.244.0.0/16") }

// fetchWeb gets the page of a tenant's web pod through the tenant's own API server (the
// pods/proxy subresource: the tenant's control plane may reach its pods), then tries the
// same pod address from this machine, which the host's NetworkPolicies refuse. A pod that
// just started may not serve yet, and the devhost's policy enforcer (kube-router) programs
// a new pod within seconds (the network gate holds the tenant's containers until then, but
// a control plane run without it does not): both are retried for a while, and a refusal
// that came late is reported as such.
func fetchWeb(ctx context.Context, c kubernetes.Interface, ns string) string {
	var body []byte
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		body, err = c.CoreV1().Pods(ns).ProxyGet("http", "web", "8080", "/", nil).DoRaw(pctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	via := fmt.Sprintf("through its API server %q", strings.TrimSpace(string(body)))
	if err != nil {
		via = "through its API server: error: " + err.Error()
	}
	p, err := c.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return via
	}
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || !devhostPods().Contains(ip) {
		return via
	}
	url := "http://" + netip.AddrPortFrom(ip, 8080).String() + "/"
	direct := "answered for 10 s (no host NetworkPolicy?)"
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if !answers(ctx, url) {
			direct = "refused (the host's NetworkPolicy admits only the tenant's own pods)"
			if d := time.Since(start); d > time.Second {
				direct = fmt.Sprintf("refused after %.0f s (the host's NetworkPolicy admits only the tenant's own pods; the devhost's enforcer had not programmed the new pod yet)", d.Seconds())
			}
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Sprintf("%s; from this machine, GET %s %s", via, url, direct)
}

// answers says whether a GET of url gets an HTTP answer within 3 s.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}
