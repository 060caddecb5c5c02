package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestRestartKeepsEverything stops with SIGTERM (which must finish within 10 s) and
// starts again on the same data dir: objects, certificates and kubeconfig are unchanged.
func TestRestartKeepsEverything(t *testing.T) {
	onEachDatastore(t, func(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) {
		cs := cp.Client()
		mustNamespace(ctx, t, cs, "keep")
		if _, err := cs.CoreV1().ConfigMaps("keep").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, cp.DataDir)
		took, err := cp.Terminate(10 * time.Second)
		if err != nil {
			t.Fatalf("%v\n%s", err, cp.LogTail())
		}
		t.Logf("SIGTERM to exit: %s", took)

		ready := cp.Start(ctx)
		t.Logf("restart to ready: %s", ready)
		cm, err := cp.Client().CoreV1().ConfigMaps("keep").Get(ctx, "cfg", metav1.GetOptions{})
		if err != nil || cm.Data["k"] != "v" {
			t.Fatalf("configmap after restart: %v %v", cm, err)
		}
		after := snapshot(t, cp.DataDir)
		for name, b := range before {
			if !bytes.Equal(b, after[name]) {
				t.Errorf("%s changed across restart", name)
			}
		}
		for name := range before {
			if filepath.Ext(name) == ".key" {
				if fi, _ := os.Stat(filepath.Join(cp.DataDir, name)); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
				}
			}
		}
	})
}

// snapshot reads the PKI and the admin kubeconfig.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(dir, "pki", "*"))
	files = append(files, filepath.Join(dir, "kubeconfig", "admin.kubeconfig"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		out[rel] = b
	}
	if len(out) < 10 {
		t.Fatalf("expected PKI files in %s, found %d", dir, len(out))
	}
	return out
}

// TestKillDuringWritesLosesNothingAcknowledged kills -9 in the middle of a burst of 500
// concurrent creates; every create the API server acknowledged must exist after restart.
func TestKillDuringWritesLosesNothingAcknowledged(t *testing.T) {
	onEachDatastore(t, func(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) {
		cs := cp.Client()
		mustNamespace(ctx, t, cs, "burst")

		const total, workers = 500, 16
		var acked sync.Map
		var count atomic.Int64
		killed := make(chan struct{})
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					name := fmt.Sprintf("cm-%04d", i)
					_, err := cs.CoreV1().ConfigMaps("burst").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name}}, metav1.CreateOptions{})
					if err == nil {
						acked.Store(name, true)
						count.Add(1)
					}
				}
			}()
		}
		go func() {
			for count.Load() < total/2 {
				time.Sleep(time.Millisecond)
			}
			cp.Kill()
			close(killed)
		}()
	feed:
		for i := range total {
			select {
			case next <- i:
			case <-killed:
				break feed
			}
		}
		close(next)
		wg.Wait()
		<-killed
		n := count.Load()
		t.Logf("acknowledged before kill -9: %d", n)
		if n < total/2 {
			t.Fatalf("only %d writes acknowledged", n)
		}

		cp.Start(ctx)
		list, err := cp.Client().CoreV1().ConfigMaps("burst").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, cm := range list.Items {
			have[cm.Name] = true
		}
		lost := 0
		acked.Range(func(k, _ any) bool {
			if !have[k.(string)] {
				lost++
				t.Errorf("acknowledged write %s lost", k)
			}
			return lost < 10
		})
	})
}
