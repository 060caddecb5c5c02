package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/connect"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// env is what every check works with.
type env struct {
	host    *host.Host
	vc      *v1alpha1.VirtualCluster
	virtual *virtualCluster
	level   string // the tenant's pod security level
	image   string
	// ns is the audit's own virtual namespace; checks may add more (namespaces).
	ns         string
	podTimeout time.Duration
	progress   *output.Progress

	mu          sync.Mutex
	namespaces  []string // virtual namespaces to delete at the end
	volumes     []string // virtual PersistentVolumes to delete at the end (admitted by mistake)
	other       *otherTenant
	otherLooked bool
	net         *probeResults // the network group's probe, once run
}

// virtualCluster is a client of the tenant's API server with its cluster-admin rights.
type virtualCluster struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// connectVirtual reads the tenant's admin kubeconfig exactly as `kplex connect --print`
// does (the same checks on the Secret and its content, the same port-forward when the API
// server is reachable only inside the host cluster), running it until ctx ends.
func connectVirtual(ctx context.Context, h *host.Host, s output.Streams, name string) (*virtualCluster, error) {
	printed := &kubeconfigWriter{ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- connect.Run(ctx, h, output.Streams{Out: printed, ErrOut: s.ErrOut, Log: s.Log}, name, "", connect.Options{Print: true})
	}()
	select {
	case <-printed.ready:
	case err := <-done:
		if err != nil {
			return nil, err
		}
		select { // it printed and returned: no port-forward needed
		case <-printed.ready:
		default:
			return nil, fmt.Errorf("reading the kubeconfig of %s printed nothing: run kplex connect %s --print to see why", name, name)
		}
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(printed.data())
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	cfg.UserAgent = "kplex-audit"
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of virtual cluster %s: %w", name, err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("the API server of virtual cluster %s (%s) does not answer: %v: kplex status %s shows why", name, cfg.Host, err, name)
	}
	return &virtualCluster{Config: cfg, Client: cs}, nil
}

// kubeconfigWriter receives what kplex connect --print writes: the kubeconfig in one
// Write.
type kubeconfigWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
}

func (w *kubeconfigWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	w.once.Do(func() { close(w.ready) })
	return n, err
}

func (w *kubeconfigWriter) data() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// createNamespace makes a virtual namespace and records it for the cleanup.
func (e *env) createNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.virtual.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s in virtual cluster %s: %w", name, e.vc.Name, err)
	}
	e.mu.Lock()
	e.namespaces = append(e.namespaces, name)
	e.mu.Unlock()
	return nil
}

// cleanup deletes what the audit made and waits (a bounded time) for the namespaces to go,
// so that their host copies go too.
func (e *env) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	e.mu.Lock()
	namespaces, volumes := e.namespaces, e.volumes
	e.mu.Unlock()
	c := e.virtual.Client
	for _, pv := range volumes {
		if err := c.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.progress.Step("cleanup: delete PersistentVolume %s: %v (delete it by hand)", pv, err)
		}
	}
	for _, ns := range namespaces {
		if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.progress.Step("cleanup: delete namespace %s: %v (delete it by hand: kubectl delete namespace %s)", ns, err, ns)
		}
	}
	if len(namespaces) == 0 {
		return
	}
	e.progress.Step("cleanup: deleting namespaces %v", namespaces)
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		for _, ns := range namespaces {
			if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		e.progress.Step("cleanup: namespaces %v still terminating; the virtual cluster finishes deleting them", namespaces)
		return
	}
	e.progress.Step("cleanup: done")
}

// refused turns the answer to an attempt the tenant policy must refuse into a result:
// PASS with the API server's message when it refused, FAIL when it was admitted (undo
// then runs), ERROR when the request got no answer.
func refused(err error, admitted string, undo func()) (Outcome, string) {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		if undo != nil {
			undo()
		}
		return Fail, admitted
	case errors.As(err, &status) && status.Status().Code >= 400 && status.Status().Code < 500:
		return Pass, fmt.Sprintf("refused (%d %s): %s", status.Status().Code, status.Status().Reason, status.Status().Message)
	}
	return Error, "the virtual API server did not answer yes or no: " + err.Error()
}
