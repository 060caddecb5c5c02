package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// debugArgs gives, with o.profileDir set, each data dir a kplexd flag serving Go profiles
// on a free loopback port, written to dir/debug-address.
func debugArgs(o options, dirs ...string) (map[string][]string, error) {
	args := map[string][]string{}
	if o.profileDir == "" {
		return args, nil
	}
	for _, dir := range dirs {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "debug-address"), []byte(addr), 0o600); err != nil {
			return nil, err
		}
		args[dir] = []string{"--debug-address", addr}
	}
	return args, nil
}

// profile starts a CPU profile of each kplexd (name -> its data dir, which holds its debug
// address) lasting as long as the syncer needs for the pods, and returns a function that
// waits for the profiles and writes them to o.profileDir/<name>.pprof. Without
// o.profileDir it does nothing.
func profile(ctx context.Context, o options, dirs map[string]string) func() error {
	if o.profileDir == "" {
		return func() error { return nil }
	}
	seconds := o.syncPods/o.syncRate + 2
	errs := make(chan error, len(dirs))
	for name, dir := range dirs {
		go func() { errs <- fetchProfile(ctx, dir, seconds, filepath.Join(o.profileDir, name+".pprof")) }()
	}
	return func() error {
		var first error
		for range dirs {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

func fetchProfile(ctx context.Context, dir string, seconds int, out string) error {
	addr, err := os.ReadFile(filepath.Join(dir, "debug-address"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile of %s: %w", dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile of %s: %s", dir, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "syncer: CPU profile in %s\n", out)
	return f.Close()
}

// requestCounts reads apiserver_request_total from an API server's /metrics, summed by
// "VERB resource[/subresource]".
func requestCounts(ctx context.Context, cs kubernetes.Interface) (map[string]float64, error) {
	b, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(val, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		counts[key] += v
	}
	return counts, nil
}

// requestsSince is requestCounts minus before (only the keys that grew).
func requestsSince(ctx context.Context, cs kubernetes.Interface, before map[string]float64) (map[string]float64, error) {
	now, err := requestCounts(ctx, cs)
	if err != nil {
		return nil, err
	}
	d := map[string]float64{}
	for k, v := range now {
		if v > before[k] {
			d[k] = v - before[k]
		}
	}
	return d, nil
}

// perPod formats request counts divided by pods, largest first, dropping those below 0.05 per pod.
func perPod(counts map[string]float64, pods int) string {
	keys := make([]string, 0, len(counts))
	var total float64
	for k, v := range counts {
		total += v
		if v/float64(pods) >= 0.05 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, counts[k]/float64(pods))
	}
	return fmt.Sprintf("%.2f (%s)", total/float64(pods), strings.Join(parts, ", "))
}

// cpuTime is the CPU time (user + system) the processes have used so far.
func cpuTime(cmds []*exec.Cmd) (time.Duration, error) {
	var ticks int64
	for _, c := range cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			return 0, fmt.Errorf("%s exited: %w", c.Path, err)
		}
		// Fields after the command name (which may hold spaces): state is the first,
		// utime and stime the 12th and 13th.
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			return 0, fmt.Errorf("unexpected /proc/%d/stat", c.Process.Pid)
		}
		for _, s := range f[11:13] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, err
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
}
