package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	kdns "github.com/kplex-dev/kplex/internal/dns"
)

const (
	dnsBegin    = "<!-- bench:dns:begin -->"
	dnsEnd      = "<!-- bench:dns:end -->"
	dnsNS       = "bench"
	dnsServices = 200
	dnsEndpoint = 3 // ready endpoints of the headless Service
	hitNames    = 100
	cacheLimit  = 10000 // internal/dns keeps at most this many forwarded answers
)

// dnsLoad is one load run: every answered query's latency, and the queries that failed.
type dnsLoad struct {
	name     string
	lat      []time.Duration
	lost     int   // no answer within a second
	bad      int   // answered with an error code or no records
	upstream int64 // queries the stand-in upstream received during the run
	took     time.Duration
	base     *dnsLoad // the baseline run just before this one
}

func (l dnsLoad) qps() float64 { return float64(len(l.lat)) / l.took.Seconds() }

type dnsResult struct {
	clients                  int
	duration, settle         time.Duration
	loads                    []dnsLoad // the baseline runs together first
	rssOff, rssOn, rssLoaded int64
	rssLoadedSettled         int64
	anonOff, anonOn          int64
	heapSource, heapCache    int64 // Go heap of the DNS's informers and of a full forward cache
	loadBefore, loadAfter    string
}

// standin is the upstream resolver of the benchmark, on loopback: a bare miekg/dns server
// answering every A query from memory (192.0.2.1, TTL 300), counting what it is asked.
type standin struct {
	addr    string
	queries atomic.Int64
	srv     *dns.Server
}

func startStandin() (*standin, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the stand-in upstream: %w", err)
	}
	s := &standin{addr: pc.LocalAddr().String()}
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		if len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = s.srv.ActivateAndServe() }()
	return s, nil
}

// benchDNS runs a host control plane and a tenant's kplexd with the syncer, first without
// and then with its DNS server, with the same objects, for the memory the DNS adds; then
// puts the DNS server under load, each load side by side with the same load against the
// stand-in upstream answering directly.
func benchDNS(ctx context.Context, o options) (r dnsResult, rerr error) {
	r.clients, r.duration, r.settle = o.dnsClients, o.dnsDuration, o.dnsSettle
	r.loadBefore = loadavg()
	root, err := os.MkdirTemp("", "kplex-bench-dns-")
	if err != nil {
		return r, err
	}
	defer func() {
		if rerr == nil {
			os.RemoveAll(root)
		} else {
			rerr = fmt.Errorf("%w (logs in %s)", rerr, root)
		}
	}()
	up, err := startStandin()
	if err != nil {
		return r, err
	}
	defer func() { _ = up.srv.Shutdown() }()
	hostDir := filepath.Join(root, "host")
	host, hc, err := startKplexd(ctx, o.bin, hostDir, "--profile", "host")
	if err != nil {
		return r, err
	}
	defer stop(host)
	tenant := func(name string, extra ...string) ([]*exec.Cmd, kubernetes.Interface, error) {
		if err := namespace(ctx, hc, name); err != nil {
			return nil, nil, err
		}
		args := append([]string{"--service-cidr", "10.96.128.0/20", "--host-kubeconfig", filepath.Join(hostDir, "kubeconfig", "admin.kubeconfig"),
			"--host-namespace", name, "--tenant-api-host", "10.0.0.10:443"}, extra...)
		cmds, vc, err := startKplexd(ctx, o.bin, filepath.Join(root, name), args...)
		if err != nil {
			return nil, nil, err
		}
		if err := dnsObjects(ctx, vc); err != nil {
			stop(cmds)
			return nil, nil, err
		}
		return cmds, vc, nil
	}

	fmt.Fprintf(os.Stderr, "dns: tenant without DNS, %s to settle\n", o.dnsSettle)
	off, _, err := tenant("kplex-bench-nodns")
	if err != nil {
		return r, err
	}
	r.rssOff, r.anonOff, err = settledRSS(ctx, off, o.dnsSettle)
	stop(off)
	if err != nil {
		return r, err
	}
	port, err := freePort()
	if err != nil {
		return r, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	fmt.Fprintf(os.Stderr, "dns: tenant with DNS on %s, %s to settle\n", addr, o.dnsSettle)
	on, vc, err := tenant("kplex-bench-dns", "--dns-address", addr, "--tenant-dns-ip", "10.96.128.10", "--dns-upstream", up.addr)
	if err != nil {
		return r, err
	}
	defer stop(on)
	if err := waitAnswers(ctx, addr); err != nil {
		return r, err
	}
	if r.rssOn, r.anonOn, err = settledRSS(ctx, on, o.dnsSettle); err != nil {
		return r, err
	}

	svc := func(c, seq int) string {
		return fmt.Sprintf("svc-%02d.%s.svc.cluster.local.", (c+seq)%dnsServices, dnsNS)
	}
	hit := func(c, seq int) string { return fmt.Sprintf("h%03d.hit.bench.test.", (c+seq)%hitNames) }
	for i := range hitNames { // every hit name in the cache before the hits are timed
		if _, err := exchange(addr, hit(0, i), dns.TypeA); err != nil {
			return r, fmt.Errorf("warm the cache: %w", err)
		}
	}
	// Each load runs right after the same load against the stand-in alone, and is compared
	// with that run: on a shared machine the load of the moment moves both alike.
	baseline := func() (dnsLoad, error) { return loadDNS(ctx, up.addr, o, dns.TypeA, hit) }
	runs := []struct {
		name  string
		qtype uint16
		names func(c, seq int) string
	}{
		{"cluster: Service A", dns.TypeA, svc},
		{"cluster: Service SRV (`_http._tcp`)", dns.TypeSRV, func(c, seq int) string { return "_http._tcp." + svc(c, seq) }},
		{fmt.Sprintf("cluster: headless Service A (%d endpoints)", dnsEndpoint), dns.TypeA, func(int, int) string { return "db." + dnsNS + ".svc.cluster.local." }},
		{"forwarded, cache hit", dns.TypeA, hit},
		{"forwarded, cache miss (a new name each query)", dns.TypeA, func(c, seq int) string { return fmt.Sprintf("c%d-%d.miss.bench.test.", c, seq) }},
	}
	all := dnsLoad{name: "baseline: the stand-in upstream answering directly (A), all runs"}
	r.loads = []dnsLoad{{}}
	for _, run := range runs {
		fmt.Fprintf(os.Stderr, "dns: the baseline, then %s, %d clients for %s each\n", run.name, o.dnsClients, o.dnsDuration)
		b, err := baseline()
		if err != nil {
			return r, fmt.Errorf("baseline: %w", err)
		}
		all.lat, all.took, all.lost, all.bad = append(all.lat, b.lat...), all.took+b.took, all.lost+b.lost, all.bad+b.bad
		all.upstream += int64(len(b.lat))
		before := up.queries.Load()
		l, err := loadDNS(ctx, addr, o, run.qtype, run.names)
		if err != nil {
			return r, fmt.Errorf("%s: %w", run.name, err)
		}
		l.name, l.upstream, l.base = run.name, up.queries.Load()-before, &b
		r.loads = append(r.loads, l)
	}
	all.base = &all
	r.loads[0] = all
	if r.rssLoaded, _, _, err = rss(on); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "dns: %s idle after the loads\n", o.dnsSettle)
	if r.rssLoadedSettled, _, err = settledRSS(ctx, on, o.dnsSettle); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "dns: Go heap of the DNS's state, in this process\n")
	if r.heapSource, r.heapCache, err = dnsHeap(ctx, vc, up.addr); err != nil {
		return r, err
	}
	r.loadAfter = loadavg()
	return r, nil
}

// dnsObjects creates what the tenant's DNS answers: ClusterIP Services with a named port,
// and a headless Service with ready endpoints (its EndpointSlice written directly, as no
// kubelet runs pods here; the DNS reads Services and EndpointSlices only).
func dnsObjects(ctx context.Context, cs kubernetes.Interface) error {
	if err := namespace(ctx, cs, dnsNS); err != nil {
		return err
	}
	for i := range dnsServices {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%02d", i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
		if _, err := cs.CoreV1().Services(dnsNS).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s: %w", s.Name, err)
		}
	}
	db := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}}}
	if _, err := cs.CoreV1().Services(dnsNS).Create(ctx, db, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service db: %w", err)
	}
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432), Protocol: ptr.To(corev1.ProtocolTCP)}}}
	for i := range dnsEndpoint {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.0.%d", i+5)},
			Hostname: ptr.To(fmt.Sprintf("db-%d", i)), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(dnsNS).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create endpointslice db-1: %w", err)
	}
	return nil
}

// waitAnswers waits until the DNS server answers for the last objects created.
func waitAnswers(ctx context.Context, addr string) error {
	deadline := time.Now().Add(time.Minute)
	last := fmt.Sprintf("svc-%02d.%s.svc.cluster.local.", dnsServices-1, dnsNS)
	for {
		a, errA := exchange(addr, last, dns.TypeA)
		h, errH := exchange(addr, "db."+dnsNS+".svc.cluster.local.", dns.TypeA)
		if errA == nil && errH == nil && len(a.Answer) == 1 && len(h.Answer) == dnsEndpoint {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the DNS server on %s does not answer for the tenant's objects after a minute (%v, %v)", addr, errA, errH)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dnsHeap measures in this process, with kplexd's own code, the Go heap the DNS server's
// state holds: the informers on the tenant's Services and EndpointSlices, and a forward
// cache filled to its limit. RSS differences between two processes hide numbers this small.
func dnsHeap(ctx context.Context, vc kubernetes.Interface, upstream string) (source, cache int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	before := heapAlloc()
	src, err := kdns.NewInformerSource(vc)
	if err != nil {
		return 0, 0, err
	}
	if err := src.Start(ctx); err != nil {
		return 0, 0, err
	}
	source = heapAlloc() - before
	f := kdns.NewForwarder([]string{upstream}, 2*time.Second)
	before = heapAlloc()
	for i := range cacheLimit {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("c%05d.heap.bench.test.", i), dns.TypeA)
		if _, err := f.Forward(ctx, m); err != nil {
			return 0, 0, err
		}
	}
	cache = heapAlloc() - before
	runtime.KeepAlive(src)
	runtime.KeepAlive(f)
	return source, cache, nil
}

func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func exchange(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", name, err)
	}
	return r, nil
}

// settledRSS waits, then returns the median of five readings a second apart (total and
// anonymous): one reading lands anywhere in a garbage-collection cycle.
func settledRSS(ctx context.Context, cmds []*exec.Cmd, settle time.Duration) (int64, int64, error) {
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(settle):
	}
	var total, anon []int64
	for i := range 5 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		t, a, _, err := rss(cmds)
		if err != nil {
			return 0, 0, err
		}
		total, anon = append(total, t), append(anon, a)
	}
	slices.Sort(total)
	slices.Sort(anon)
	return total[2], anon[2], nil
}

// loadDNS runs o.dnsClients clients for o.dnsDuration, each on its own UDP socket sending
// one query and waiting for its answer before the next (closed loop).
func loadDNS(ctx context.Context, addr string, o options, qtype uint16, name func(client, seq int) string) (dnsLoad, error) {
	type client struct {
		lat       []time.Duration
		lost, bad int
		err       error
	}
	clients := make([]client, o.dnsClients)
	start := time.Now()
	deadline := start.Add(o.dnsDuration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &clients[c]
			conn, err := net.Dial("udp", addr)
			if err != nil {
				cl.err = err
				return
			}
			defer conn.Close()
			buf := make([]byte, dns.MaxMsgSize)
			m := new(dns.Msg)
			for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				m.SetQuestion(name(c, seq), qtype)
				m.Id = uint16(seq)
				b, err := m.Pack()
				if err != nil {
					cl.err = err
					return
				}
				sent := time.Now()
				if _, err := conn.Write(b); err != nil {
					cl.err = err
					return
				}
				_ = conn.SetReadDeadline(sent.Add(time.Second))
				for {
					n, err := conn.Read(buf)
					if err != nil {
						cl.lost++
						break
					}
					if n < 12 || binary.BigEndian.Uint16(buf) != m.Id {
						continue // the late answer to a query already counted lost
					}
					cl.lat = append(cl.lat, time.Since(sent))
					if rcode, answers := buf[3]&0x0f, binary.BigEndian.Uint16(buf[6:]); rcode != dns.RcodeSuccess || answers == 0 {
						cl.bad++
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	l := dnsLoad{took: time.Since(start)}
	for _, c := range clients {
		if c.err != nil {
			return l, c.err
		}
		l.lat = append(l.lat, c.lat...)
		l.lost += c.lost
		l.bad += c.bad
	}
	if len(l.lat) == 0 {
		return l, fmt.Errorf("no query to %s was answered", addr)
	}
	return l, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// writeDNS replaces the DNS section of the markdown file (or appends it).
func writeDNS(path string, r dnsResult) error {
	lat := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## DNS: the tenant's resolver in kplexd (`make bench`, `-part dns`)\n\n", dnsBegin)
	fmt.Fprintf(&b, "Measured %s on %s; load average (1, 5, 15 min) %s before, %s after. ", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(), r.loadBefore, r.loadAfter)
	fmt.Fprintf(&b, "A host control plane (`kplexd --profile host`) and a tenant's kplexd with the syncer and `--dns-address` on loopback; the tenant has %d ClusterIP Services and a headless Service with %d ready endpoints. ", dnsServices, dnsEndpoint)
	fmt.Fprintf(&b, "%d clients, each a UDP socket sending one query and waiting for its answer, for %s per row, on the same machine as the server. ", r.clients, r.duration)
	fmt.Fprintf(&b, "The upstream (`--dns-upstream`) is a bare miekg/dns server in the benchmark process answering every A query from memory; the baseline is the same load sent to it directly, the floor of any DNS server on this machine, run for the same time just before each row. Ratio = row / the baseline run just before it (the baseline row: all its runs together).\n\n")
	fmt.Fprintf(&b, "| load | queries/s | p50 | p99 | sent upstream | failed | queries/s ratio | p50 ratio | p99 ratio |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range r.loads {
		p50, p99 := percentile(l.lat, .5), percentile(l.lat, .99)
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d | %d | %.2f | %.2f | %.2f |\n", l.name, l.qps(), lat(p50), lat(p99), l.upstream, l.lost+l.bad,
			l.qps()/l.base.qps(), float64(p50)/float64(percentile(l.base.lat, .5)), float64(p99)/float64(percentile(l.base.lat, .99)))
	}
	fmt.Fprintf(&b, "\n\"sent upstream\" counts the queries the upstream received during the row (baseline: every query; cache hits: none); \"failed\" the queries unanswered within a second or answered without records.\n\n")
	fmt.Fprintf(&b, "Memory the DNS adds, as whole-process RSS of the tenant's kplexd (VmRSS, median of 5 readings a second apart) with the same objects, each after %s: ", r.settle)
	fmt.Fprintf(&b, "without `--dns-address` %s (anonymous %s), with it %s (anonymous %s): **%+.1f MiB** (anonymous %+.1f MiB). ",
		mib(r.rssOff), mib(r.anonOff), mib(r.rssOn), mib(r.anonOn), float64(r.rssOn-r.rssOff)/(1<<20), float64(r.anonOn-r.anonOff)/(1<<20))
	fmt.Fprintf(&b, "With the DNS right after the loads above (%d names forwarded; the cache keeps at most %d answers): %s, %s idle later %s. Two processes differ by a few MiB from garbage-collection timing alone, so the DNS's own state is also measured as Go heap (HeapAlloc after a GC) in the benchmark process with kplexd's code: the informers on this tenant's Services and EndpointSlices hold %s, a forward cache at its limit of %d answers %s (%.0f bytes per answer): the cache's limit bounds what queries for outside names can make the DNS hold.\n%s\n",
		r.loads[len(r.loads)-1].upstream, cacheLimit, mib(r.rssLoaded), r.settle, mib(r.rssLoadedSettled), mib(r.heapSource), cacheLimit, mib(r.heapCache), float64(r.heapCache)/cacheLimit, dnsEnd)
	return replaceSection(path, dnsBegin, dnsEnd, b.String())
}
