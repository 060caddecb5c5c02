// Command virtualclusters measures virtual clusters on the devhost through the kplex CLI,
// as a user makes them: `kplex create --wait` to Ready one at a time (median of 5), sleep
// and wake through the gateway (median of 5, and what a sleeping tenant holds), then 10
// created at once (total time, and the resident memory of each control plane). It
// writes its section of BENCHMARKS.md. Root; brings the devhost up and down unless it
// already runs.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kplex-dev/kplex/internal/cli/host"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding kplex and kplex-devhost")
	out := flag.String("out", "BENCHMARKS.md", "markdown file whose virtual clusters section is replaced")
	sequential := flag.Int("sequential", 5, "virtual clusters created one at a time")
	concurrent := flag.Int("concurrent", 10, "virtual clusters created at once")
	timeout := flag.Duration("timeout", 10*time.Minute, "how long each create --wait may take")
	flag.Parse()
	crlog.SetLogger(logr.Discard()) // the host client's library logs nothing the report needs
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *bin, *out, *sequential, *concurrent, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench virtualclusters:", err)
		os.Exit(1)
	}
}

type bench struct{ bin string }

// kplex runs one kplex command against the devhost and returns its output.
func (b bench) kplex(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "kplex"), append([]string{"--kubeconfig", host.DevhostKubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kplex %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// each runs fn for every name at once and returns how long each took and
// its error.
func each(names []string, fn func(name string) error) ([]time.Duration, []error) {
	took := make([]time.Duration, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			errs[i] = fn(name)
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	return took, errs
}

func names(prefix string, n int) []string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("%s%d", prefix, i+1))
	}
	return s
}

func run(ctx context.Context, bin, out string, nSeq, nPar int, timeout time.Duration) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the devhost needs root: run with sudo")
	}
	b := bench{bin: bin}
	devhost := filepath.Join(bin, "kplex-devhost")
	if exec.CommandContext(ctx, devhost, "status").Run() != nil {
		fmt.Println("bringing the devhost up")
		if o, err := exec.CommandContext(ctx, devhost, "up").CombinedOutput(); err != nil {
			return fmt.Errorf("kplex-devhost up: %w\n%s", err, o)
		}
		defer func() {
			o, err := exec.Command(devhost, "down").CombinedOutput()
			fmt.Printf("kplex-devhost down: %v\n%s", err, o)
		}()
	}
	if _, err := b.kplex(ctx, "install"); err != nil {
		return err
	}
	del := func(name string) error { _, err := b.kplex(ctx, "delete", name, "--wait"); return err }
	create := func(name string) error {
		_, err := b.kplex(ctx, "create", name, "--wait", "--timeout", timeout.String())
		return err
	}

	var seq []time.Duration
	for _, name := range names("bench-seq-", nSeq) {
		start := time.Now()
		if err := create(name); err != nil {
			return err
		}
		seq = append(seq, time.Since(start))
		fmt.Printf("%s Ready in %.1f s\n", name, seq[len(seq)-1].Seconds())
		if err := del(name); err != nil { // the next one starts on a quiet host
			return err
		}
	}

	if err := create("bench-sleep"); err != nil {
		return err
	}
	sl, err := sleepCycles(ctx, b, "bench-sleep", nSeq)
	if err != nil {
		return err
	}
	if err := del("bench-sleep"); err != nil {
		return err
	}

	par := names("bench-par-", nPar)
	start := time.Now()
	took, errs := each(par, create)
	total := time.Since(start)
	var ready []time.Duration // of those that got Ready; how many did is a result too
	for i, err := range errs {
		if err != nil {
			fmt.Printf("%s: %v\n", par[i], err)
			continue
		}
		ready = append(ready, took[i])
	}
	fmt.Printf("%d at once: %d Ready, the last after %.1f s\n", nPar, len(ready), slices.Max(took).Seconds())
	time.Sleep(30 * time.Second) // past start-up peaks
	rss, err := controlPlaneRSS()
	if err != nil {
		return err
	}
	if _, errs := each(par, del); errors.Join(errs...) != nil {
		return errors.Join(errs...)
	}
	return write(out, seq, ready, nPar, timeout, total, rss, sl)
}

// controlPlaneRSS is the resident memory of each `kplexd controlplane`
// process on this machine (the devhost's containers are its processes).
func controlPlaneRSS() ([]int64, error) { return processesRSS("kplexd", "controlplane") }

// processRSS is the resident memory of the one devhost process `binary sub`.
func processRSS(binary, sub string) (int64, error) {
	rss, err := processesRSS(binary, sub)
	if err != nil {
		return 0, err
	}
	return rss[0], nil
}

// processesRSS is the resident memory of each devhost process `binary sub`.
func processesRSS(binary, sub string) ([]int64, error) {
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	var rss []int64
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) != binary || args[1] != sub {
			continue
		}
		// Only the devhost's pods (kubelet cgroupRoot /kplex-devhost), not a
		// kplexd that a test runs on this machine.
		if cg, _ := os.ReadFile(filepath.Join(p, "cgroup")); !strings.Contains(string(cg), ":/kplex-devhost") {
			continue
		}
		status, err := os.ReadFile(filepath.Join(p, "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = append(rss, kb<<10)
			}
		}
	}
	if len(rss) == 0 {
		return nil, fmt.Errorf("no %s %s process found in the devhost", binary, sub)
	}
	return rss, nil
}

const (
	beginMarker = "<!-- bench:virtualclusters:begin -->"
	endMarker   = "<!-- bench:virtualclusters:end -->"
)

func write(path string, seq, ready []time.Duration, nPar int, timeout, total time.Duration, rss []int64, sl sleepResult) error {
	sec := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	list := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%.1f", d.Seconds()))
		}
		return strings.Join(s, ", ")
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	slices.Sort(rss)
	var sum int64
	for _, r := range rss {
		sum += r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## Virtual clusters on the devhost (`hack/bench/virtualclusters`)\n\n", beginMarker)
	fmt.Fprintf(&b, "Measured %s on %d cores, %s, through the kplex CLI (`kplex create NAME --wait`: from the request to phase Ready, kubeconfig published; embedded SQLite datastore, default spec).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "| metric | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| `kplex create --wait` to Ready, one at a time on a quiet host, median of %d (%s s) | %s |\n", len(seq), list(seq), sec(median(seq)))
	if len(ready) == nPar {
		fmt.Fprintf(&b, "| %d created at once: all Ready | %s |\n", nPar, sec(total))
	} else {
		fmt.Fprintf(&b, "| %d created at once: Ready within %s | %d of %d |\n", nPar, timeout, len(ready), nPar)
	}
	if len(ready) > 0 {
		fmt.Fprintf(&b, "| %d created at once: each to Ready (of those Ready), median / max | %s / %s |\n", nPar, sec(median(ready)), sec(slices.Max(ready)))
	}
	fmt.Fprintf(&b, "| RSS of one control plane (`kplexd controlplane`: kine, kube-apiserver, kube-controller-manager, syncer), %d running, 30 s after the wait: median / max | %s / %s |\n", len(rss), mib(rss[len(rss)/2]), mib(rss[len(rss)-1]))
	fmt.Fprintf(&b, "| RSS of all %d control planes | %s |\n", len(rss), mib(sum))
	fmt.Fprintf(&b, "\nSleep and wake (one tenant, %d cycles of `kplex sleep --wait`, then one request through the gateway with its published gateway kubeconfig):\n\n", len(sl.wake))
	fmt.Fprintf(&b, "| metric | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| request to a sleeping tenant through the gateway until its answer, median of %d (%s s) | %s |\n", len(sl.wake), list(sl.wake), sec(median(sl.wake)))
	fmt.Fprintf(&b, "| requests it took each time (1: the first request was held and answered) | %v |\n", sl.attempts)
	fmt.Fprintf(&b, "| the same request to the awake tenant, median | %.0f ms |\n", float64(median(sl.awake).Microseconds())/1000)
	fmt.Fprintf(&b, "| wake through the gateway / `kplex create --wait` (same run) | %.2f |\n", median(sl.wake).Seconds()/median(seq).Seconds())
	fmt.Fprintf(&b, "| a sleeping tenant on the host: pods, CPU and memory requested | %d, %s, %s |\n", sl.asleepPods, sl.asleepCPU, sl.asleepMem)
	fmt.Fprintf(&b, "| RSS of `kplexd operator` (gateway included) before / after the %d cycles | %s / %s |\n", len(sl.wake), mib(sl.gatewayBefore), mib(sl.gatewayAfter))
	fmt.Fprintf(&b, "\n%s\n", endMarker)
	old, _ := os.ReadFile(path)
	s := string(old)
	if i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker); i >= 0 && j > i {
		s = s[:i] + b.String() + s[j+len(endMarker)+1:]
	} else {
		s += "\n" + b.String()
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
