package kubeletproxy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseAllowed(t *testing.T) {
	tests := []struct {
		method, uri string
		sub         string
		ns, pod, c  string
		query       string // host query, encoded
	}{
		{"GET", "/containerLogs/shop/web-0/app", "log", "shop", "web-0", "app", "container=app"},
		{"GET", "/containerLogs/shop/web.v2/app?follow=true&previous=true&timestamps=true&sinceSeconds=10&tailLines=5&limitBytes=100&stream=Stderr",
			"log", "shop", "web.v2", "app", "container=app&follow=true&limitBytes=100&previous=true&sinceSeconds=10&stream=Stderr&tailLines=5&timestamps=true"},
		{"GET", "/containerLogs/shop/web/app?sinceTime=2026-11-25T10:00:00Z", "log", "shop", "web", "app", "container=app&sinceTime=2026-11-25T10%3A00%3A00Z"},
		{"POST", "/exec/shop/web/app?command=sh&command=-c&command=echo+%27a%26b%27&input=1&output=1&error=1&tty=1",
			"exec", "shop", "web", "app", "command=sh&command=-c&command=echo+%27a%26b%27&container=app&stderr=true&stdin=true&stdout=true&tty=true"},
		{"GET", "/exec/shop/web/app?command=ls&output=1", "exec", "shop", "web", "app", "command=ls&container=app&stdout=true"},
		{"POST", "/attach/shop/web/app?input=1&output=1&tty=1", "attach", "shop", "web", "app", "container=app&stdin=true&stdout=true&tty=true"},
		{"POST", "/portForward/shop/web", "portforward", "shop", "web", "", ""},
		{"GET", "/portForward/shop/web?port=80,8080", "portforward", "shop", "web", "", "ports=80&ports=8080"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.uri, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(tt.method, u)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subresource != tt.sub || r.Namespace != tt.ns || r.Pod != tt.pod || r.Container != tt.c {
				t.Errorf("got %+v", r)
			}
			if got := r.Query.Encode(); got != tt.query {
				t.Errorf("host query %q, want %q", got, tt.query)
			}
		})
	}
}

func TestParseRefused(t *testing.T) {
	tests := []struct {
		method, uri string
		forbidden   bool // 403; else 400
	}{
		// Everything else a kubelet serves.
		{"GET", "/pods", true},
		{"GET", "/runningpods/", true},
		{"POST", "/run/shop/web/app?cmd=id", true},
		{"GET", "/metrics", true},
		{"GET", "/metrics/cadvisor", true},
		{"GET", "/metrics/resource", true},
		{"GET", "/stats/summary", true},
		{"GET", "/configz", true},
		{"GET", "/healthz", true},
		{"GET", "/spec/", true},
		{"POST", "/checkpoint/shop/web/app", true},
		{"GET", "/logs/", true},
		{"GET", "/logs/syslog", true},
		{"GET", "/debug/pprof/", true},
		{"GET", "/", true},
		{"GET", "", true},
		// The pod-UID forms the API server never sends.
		{"POST", "/exec/shop/web/0b9b2a3c-1c1c-4f4f-8a8a-123456789abc/app?command=id", true},
		{"POST", "/portForward/shop/web/0b9b2a3c-1c1c-4f4f-8a8a-123456789abc", true},
		// Traversal, escapes, malformed names.
		{"GET", "/containerLogs/shop/web/../../../pods", true},
		{"GET", "/containerLogs/../kube-system/etcd/etcd", true},
		{"GET", "/containerLogs/shop/../web/app", true},
		{"GET", "/containerLogs/shop/./app", true},
		{"GET", "/containerLogs/shop/web/app/", true},
		{"GET", "/containerLogs//shop/web/app", true},
		{"GET", "/containerLogs/shop//app", true},
		{"GET", "/containerLogs/shop%2Fweb/app", true},
		{"GET", "/containerLogs/shop/web%2F..%2F..%2Fpods/app", true},
		{"GET", "/containerLogs/sh%6Fp/web/app", true},
		{"GET", "/containerLogs/shop/web/app%00", true},
		{"GET", "/containerLogs/Shop/web/app", true},
		{"GET", "/containerLogs/shop/web/App", true},
		{"GET", "/containerLogs/shop/-web/app", true},
		{"GET", "/containerLogs/shop/web/a.b", true},
		{"GET", "/containerLogs/shop/web/" + strings.Repeat("a", 64), true},
		{"GET", "/containerLogs/shop/" + strings.Repeat("a", 254) + "/app", true},
		{"GET", "/containerLogs/shop/web", true},
		{"GET", "/exec/shop/web", true},
		{"GET", "/containerlogs/shop/web/app", true},
		{"GET", "/ContainerLogs/shop/web/app", true},
		// Methods.
		{"POST", "/containerLogs/shop/web/app", true},
		{"DELETE", "/containerLogs/shop/web/app", true},
		{"PUT", "/exec/shop/web/app?command=id", true},
		{"DELETE", "/portForward/shop/web", true},
		// Parameters the host API must never get, or malformed ones.
		{"GET", "/containerLogs/shop/web/app?insecureSkipTLSVerifyBackend=true", false},
		{"GET", "/containerLogs/shop/web/app?container=other", false},
		{"GET", "/containerLogs/shop/web/app?follow=maybe", false},
		{"GET", "/containerLogs/shop/web/app?tailLines=-1", false},
		{"GET", "/containerLogs/shop/web/app?tailLines=1&tailLines=2", false},
		{"GET", "/containerLogs/shop/web/app?sinceTime=yesterday", false},
		{"GET", "/containerLogs/shop/web/app?stream=Both", false},
		{"GET", "/containerLogs/shop/web/app?a=%zz", false},
		{"POST", "/exec/shop/web/app", false},
		{"POST", "/exec/shop/web/app?command=id&container=sidecar", false},
		{"POST", "/exec/shop/web/app?command=id&stdin=true", false},
		{"POST", "/exec/shop/web/app?command=id&input=yes", false},
		{"POST", "/attach/shop/web/app?command=id", false},
		{"POST", "/portForward/shop/web?port=0", false},
		{"POST", "/portForward/shop/web?port=65536", false},
		{"POST", "/portForward/shop/web?port=80,x", false},
		{"POST", "/portForward/shop/web?ports=80", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.uri, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(tt.method, u)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if errors.Is(err, errForbidden) != tt.forbidden {
				t.Errorf("error %q: forbidden=%v, want %v", err, errors.Is(err, errForbidden), tt.forbidden)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	for _, h := range []string{"Connection", "upgrade", "X-Stream-Protocol-Version", "Sec-WebSocket-Protocol", "Sec-Websocket-Key", "Accept"} {
		if !forwardedHeader(h) {
			t.Errorf("%s not forwarded: streams need it", h)
		}
	}
	for _, h := range []string{"Authorization", "Impersonate-User", "Impersonate-Group", "Impersonate-Extra-Scopes", "X-Remote-User",
		"X-Remote-Group", "Cookie", "X-Forwarded-For", "Proxy-Authorization", "Kplex-Anything"} {
		if forwardedHeader(h) {
			t.Errorf("%s forwarded to the host", h)
		}
	}
}
