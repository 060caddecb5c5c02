package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/readyz"
)

type options struct {
	bin, out, only, part string
	runs, objects        int
	idle                 time.Duration
	syncPods, syncRate   int
	syncSweep            []int // further rates for the syncer, each with 10 s of pods
	dnsClients           int
	dnsDuration          time.Duration
	dnsSettle            time.Duration
	// profileDir receives CPU profiles of the syncer run's kplexd processes ("": none).
	profileDir string
}

// result is one variant's numbers.
type result struct {
	name                        string
	fresh, restart              []time.Duration
	idleRSS, idleAnon, idleFile int64
	loadRSS                     int64
	latencies                   []time.Duration
}

func run(ctx context.Context, o options) error {
	if !slices.Contains([]string{"all", "controlplane", "syncer", "dns"}, o.part) {
		return fmt.Errorf("-part %q: give controlplane, syncer, dns or all", o.part)
	}
	if o.part == "all" || o.part == "controlplane" {
		if err := runControlPlane(ctx, o); err != nil {
			return err
		}
	}
	if o.part == "all" || o.part == "syncer" {
		r, err := benchSyncer(ctx, o)
		if err != nil {
			return fmt.Errorf("syncer: %w", err)
		}
		var sweep []syncerResult
		for _, rate := range o.syncSweep {
			so := o
			so.syncRate, so.syncPods, so.profileDir = rate, max(100, 10*rate), ""
			sr, err := benchSyncer(ctx, so)
			if err != nil {
				return fmt.Errorf("syncer at %d pods/s: %w", rate, err)
			}
			sweep = append(sweep, sr)
		}
		if err := writeSyncer(o.out, r, sweep); err != nil {
			return err
		}
	}
	if o.part == "all" || o.part == "dns" {
		r, err := benchDNS(ctx, o)
		if err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		return writeDNS(o.out, r)
	}
	return nil
}

func runControlPlane(ctx context.Context, o options) error {
	var results []result
	for _, v := range o.variants() {
		fmt.Fprintf(os.Stderr, "== %s\n", v.name())
		r, err := measure(ctx, v, o)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name(), err)
		}
		results = append(results, r)
	}
	if o.only != "" {
		fmt.Fprintf(os.Stderr, "%+v\n", results)
		return nil
	}
	return write(o.out, results, o)
}

func measure(ctx context.Context, v variant, o options) (r result, rerr error) {
	r.name = v.name()
	root, err := os.MkdirTemp("", "kplex-bench-")
	if err != nil {
		return r, err
	}
	defer func() {
		if rerr == nil {
			os.RemoveAll(root) // kept on failure: the logs are in there
		}
	}()
	var dir string
	for i := range o.runs {
		dir = filepath.Join(root, strconv.Itoa(i))
		port, err := freePort()
		if err != nil {
			return r, err
		}
		for _, restart := range []bool{false, true} {
			start := time.Now()
			cmds, err := v.start(ctx, dir, port)
			if err != nil {
				return r, err
			}
			if err := waitReady(ctx, dir, port); err != nil {
				stop(cmds)
				return r, fmt.Errorf("%w (logs in %s)", err, dir)
			}
			took := time.Since(start)
			if restart {
				r.restart = append(r.restart, took)
			} else {
				r.fresh = append(r.fresh, took)
			}
			fmt.Fprintf(os.Stderr, "run %d restart=%v ready in %s\n", i+1, restart, took.Round(time.Millisecond))
			last := i == o.runs-1 && restart
			if last {
				if err := steady(ctx, &r, cmds, dir, o); err != nil {
					stop(cmds)
					return r, err
				}
			}
			stop(cmds)
		}
	}
	return r, nil
}

// steady takes the idle and loaded readings on a running control plane.
func steady(ctx context.Context, r *result, cmds []*exec.Cmd, dir string, o options) error {
	fmt.Fprintf(os.Stderr, "idle %s...\n", o.idle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	var err error
	if r.idleRSS, r.idleAnon, r.idleFile, err = rss(cmds); err != nil {
		return err
	}
	cs, err := client(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "creating %d ConfigMaps...\n", o.objects)
	for i := range o.objects {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%05d", i)}, Data: map[string]string{"key": "value-" + strconv.Itoa(i)}}
		t := time.Now()
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s: %w", cm.Name, err)
		}
		r.latencies = append(r.latencies, time.Since(t))
	}
	time.Sleep(5 * time.Second)
	r.loadRSS, _, _, err = rss(cmds)
	return err
}

func client(dir string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig", "admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = -1, 0 // measure the server, not client-side throttling
	// As controllers talk (and the syncer): the benchmark's own encoding and decoding take
	// CPU from the servers it measures on the same machine, and JSON takes more.
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(rc)
}

// waitReady polls /readyz every 20 ms over one kept-alive connection, so the polling
// itself costs the measured process as little CPU as possible.
func waitReady(ctx context.Context, dir string, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	ca := filepath.Join(dir, "pki", "ca.crt")
	connect := func() (rest.Interface, error) {
		if _, err := os.Stat(ca); err != nil {
			return nil, err
		}
		rc := &rest.Config{Host: "https://127.0.0.1:" + strconv.Itoa(port), TLSClientConfig: rest.TLSClientConfig{CAFile: ca}, Timeout: time.Second}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return cs.Discovery().RESTClient(), nil
	}
	return readyz.Poll(ctx, 20*time.Millisecond, connect, nil, nil)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func field(status []byte, name string) int64 {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(name)); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// variants are measured in this order; -only narrows them for debugging.
func (o options) variants() []variant {
	all := []variant{kplexd{o.bin}, upstream{o.bin}}
	if o.only == "" {
		return all
	}
	for _, v := range all {
		if strings.HasPrefix(v.name(), o.only) {
			return []variant{v}
		}
	}
	return nil
}
