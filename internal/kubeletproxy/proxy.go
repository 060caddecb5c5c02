package kubeletproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Options configure a Proxy.
type Options struct {
	// Virtual reads the tenant's pods (kplex's component identity); Host is the syncer's
	// host identity, which makes the pod subresource requests.
	Virtual, Host *rest.Config
	Translator    *translate.Translator
	// ClientCAs verify the API server's kubelet client certificate: the virtual cluster CA.
	ClientCAs *x509.CertPool
	// Certificate is the proxy's serving certificate (signed by the virtual cluster CA for
	// the address the virtual nodes publish).
	Certificate tls.Certificate
	Log         logr.Logger
}

// Proxy is the kubelet API of the virtual nodes.
type Proxy struct {
	opts      Options
	virtual   kubernetes.Interface
	host      kubernetes.Interface
	hostURL   *url.URL
	transport http.RoundTripper
}

// New checks opts and builds the clients; nothing listens until Serve.
func New(opts Options) (*Proxy, error) {
	if opts.Virtual == nil || opts.Host == nil || opts.Translator == nil || opts.ClientCAs == nil {
		return nil, errors.New("kubelet proxy: virtual and host API configurations, translator and client CAs are all required")
	}
	virtual, err := kubernetes.NewForConfig(opts.Virtual)
	if err != nil {
		return nil, fmt.Errorf("kubelet proxy: virtual client: %w", err)
	}
	host, err := kubernetes.NewForConfig(opts.Host)
	if err != nil {
		return nil, fmt.Errorf("kubelet proxy: host client: %w", err)
	}
	// HTTP/1.1 only: SPDY upgrades cannot go over HTTP/2, and Go's transport keeps only
	// websocket upgrades off HTTP/2 connections.
	h1 := rest.CopyConfig(opts.Host)
	h1.NextProtos = []string{"http/1.1"}
	transport, err := rest.TransportFor(h1)
	if err != nil {
		return nil, fmt.Errorf("kubelet proxy: host transport: %w", err)
	}
	hostURL, err := url.Parse(opts.Host.Host)
	if err != nil || opts.Host.Host == "" {
		return nil, fmt.Errorf("kubelet proxy: host API address %q: %v", opts.Host.Host, err)
	}
	if hostURL.Scheme == "" {
		// rest.Config allows a bare host:port; parse it again as a URL.
		if hostURL, err = url.Parse("https://" + opts.Host.Host); err != nil {
			return nil, fmt.Errorf("kubelet proxy: host API address %q: %w", opts.Host.Host, err)
		}
	}
	if hostURL.Path == "" {
		hostURL.Path = "/"
	}
	return &Proxy{opts: opts, virtual: virtual, host: host, hostURL: hostURL, transport: transport}, nil
}

// TLSConfig requires a client certificate of the virtual cluster CA; ServeHTTP then
// checks that it is the API server's kubelet client identity.
func (p *Proxy) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.opts.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.opts.ClientCAs,
	}
}

// Serve serves TLS on l until ctx ends.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           p,
		TLSConfig:         p.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logWriter{p.opts.Log}, "", 0),
		// HTTP/1.1 only: upgrades (exec, attach, port-forward) need it, and the API server
		// is the only client.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close() // streams still open: cut them
		}
	}()
	err := srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// ServeHTTP authenticates the caller, authorizes the request and forwards it to the host.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := p.opts.Log.WithValues("method", r.Method, "path", r.URL.Path)
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != pki.APIServerKubeletClientCN {
		log.Info("Refused a client that is not the API server")
		http.Error(w, "forbidden: only the API server's kubelet client may call this kubelet", http.StatusForbidden)
		return
	}
	req, err := Parse(r.Method, r.URL)
	if err != nil {
		log.Info("Refused a kubelet request", "reason", err.Error())
		code := http.StatusBadRequest
		if errors.Is(err, errForbidden) {
			code = http.StatusForbidden
		}
		http.Error(w, err.Error(), code)
		return
	}
	hostPod, err := p.authorize(r.Context(), req)
	if err != nil {
		code := http.StatusForbidden
		if !errors.Is(err, errForbidden) {
			code = http.StatusBadGateway
		}
		log.Info("Refused a kubelet request", "reason", err.Error())
		http.Error(w, err.Error(), code)
		return
	}
	log.V(1).Info("Forwarding to the host", "hostPod", hostPod, "subresource", req.Subresource)
	p.forward(w, r, req, hostPod)
}

// authorize returns the host pod of req's virtual pod, if it is one of the tenant's pods
// synced to the host: the host pod is in the host namespace, managed by this tenant, and
// records exactly this virtual pod (namespace, name and UID). The container must be one
// the tenant defined: not a sidecar the host added.
func (p *Proxy) authorize(ctx context.Context, req Request) (string, error) {
	vpod, err := p.virtual.CoreV1().Pods(req.Namespace).Get(ctx, req.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", forbidden("pod %s/%s does not exist", req.Namespace, req.Pod)
	} else if err != nil {
		return "", fmt.Errorf("get virtual pod %s/%s: %w", req.Namespace, req.Pod, err)
	}
	if req.Container != "" && !hasContainer(vpod, req.Container) {
		return "", forbidden("pod %s/%s has no container %s", req.Namespace, req.Pod, req.Container)
	}
	tr := p.opts.Translator
	name := tr.HostName(req.Namespace, req.Pod)
	hpod, err := p.host.CoreV1().Pods(tr.Tenant().HostNamespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", forbidden("pod %s/%s is not running on the host", req.Namespace, req.Pod)
	} else if err != nil {
		return "", fmt.Errorf("get host pod %s: %w", name, err)
	}
	ns, n, uid, ok := tr.VirtualRef(hpod)
	if !ok || ns != req.Namespace || n != req.Pod || uid != vpod.UID {
		return "", forbidden("host pod %s is not the copy of pod %s/%s", name, req.Namespace, req.Pod)
	}
	return name, nil
}

// hasContainer reports whether the virtual pod has a container or init container of that
// name. Ephemeral containers are not: the syncer never runs them on the host, and a name a
// tenant gives one later could be that of a container the host pod has and the virtual one
// has not (the network gate, which avoids only the names of the others).
func hasContainer(p *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// forward proxies the request, upgrades included, to the host pod's subresource with
// the syncer's host credentials. Only the headers a stream needs are passed on: none of
// the caller's identity or impersonation headers reach the host.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, req Request, hostPod string) {
	target := p.hostURL.JoinPath("api", "v1", "namespaces", p.opts.Translator.Tenant().HostNamespace, "pods", hostPod, req.Subresource)
	target.RawQuery = req.Query.Encode()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = ""
			h := http.Header{}
			for k, v := range pr.Out.Header {
				if forwardedHeader(k) {
					h[k] = v
				}
			}
			pr.Out.Header = h
		},
		Transport:     p.transport,
		FlushInterval: -1, // logs with follow, and streams, pass at once
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			p.opts.Log.Info("Host API request failed", "hostPod", hostPod, "subresource", req.Subresource, "err", err.Error())
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}

// forwardedHeader reports the request headers passed to the host: upgrade negotiation
// (SPDY and websocket) and content negotiation.
func forwardedHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Upgrade", "X-Stream-Protocol-Version", "Accept", "Content-Type":
		return true
	}
	return strings.HasPrefix(http.CanonicalHeaderKey(k), "Sec-Websocket-")
}

// logWriter sends the HTTP server's own messages (TLS handshake failures) to the log.
type logWriter struct{ log logr.Logger }

func (l logWriter) Write(b []byte) (int, error) {
	l.log.V(1).Info("Kubelet proxy server", "message", strings.TrimSpace(string(b)))
	return len(b), nil
}
