package readyz

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func client(t *testing.T, url string) rest.Interface {
	c, err := rest.UnversionedRESTClientFor(&rest.Config{Host: url, ContentConfig: rest.ContentConfig{NegotiatedSerializer: noSerializer()}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPollWaitsForOK: "ok" only after a few checks; connect fails at first and is retried.
func TestPollWaitsForOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("asked %s", r.URL.Path)
		}
		if calls.Add(1) < 3 {
			http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	connects := 0
	connect := func() (rest.Interface, error) {
		if connects++; connects < 2 {
			return nil, errors.New("no CA yet")
		}
		return client(t, srv.URL), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Poll(ctx, time.Millisecond, connect, nil, nil); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || connects != 2 {
		t.Fatalf("checks %d, connects %d; want 3 and 2 (the client is kept)", calls.Load(), connects)
	}
}

func TestPollStops(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("starting")) }))
	defer srv.Close()
	connect := func() (rest.Interface, error) { return client(t, srv.URL), nil }

	abort := make(chan struct{})
	close(abort)
	want := errors.New("component failed")
	if err := Poll(context.Background(), time.Hour, connect, abort, func() error { return want }); err != want {
		t.Fatalf("aborted poll: %v, want %v", err, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Poll(ctx, time.Millisecond, connect, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed out poll: %v", err)
	}
}
