package gateway

import (
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return dialed, accepted
}

func spliced(t *testing.T, idle time.Duration) (client, backend net.Conn, done chan [2]int64) {
	t.Helper()
	g, err := New(nil, Options{IdleTimeout: idle, Dial: DialAddress(func(string) string { return "" })})
	if err != nil {
		t.Fatal(err)
	}
	client, gwClientSide := tcpPair(t)
	gwBackendSide, backend := tcpPair(t)
	done = make(chan [2]int64, 1)
	go func() {
		up, down := g.splice(gwClientSide, gwBackendSide)
		done <- [2]int64{up, down}
	}()
	return client, backend, done
}

// A client that half-closes after its request still gets the whole answer.
func TestSpliceHalfClose(t *testing.T) {
	client, backend, done := spliced(t, time.Minute)
	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	client.(*net.TCPConn).CloseWrite()
	req, err := io.ReadAll(backend) // ends at the half-close
	if err != nil || string(req) != "request" {
		t.Fatalf("backend read %q, %v", req, err)
	}
	if _, err := backend.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	backend.Close()
	resp, err := io.ReadAll(client)
	if err != nil || string(resp) != "answer" {
		t.Fatalf("client read %q, %v", resp, err)
	}
	select {
	case n := <-done:
		if n != [2]int64{7, 6} {
			t.Fatalf("copied %v bytes, want 7 up and 6 down", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("splice did not end after both sides closed")
	}
}

// A connection on which nothing moves is closed after the idle timeout, even while one
// way keeps it alive for a while.
func TestSpliceIdle(t *testing.T) {
	client, backend, done := spliced(t, 300*time.Millisecond)
	start := time.Now()
	for range 4 { // traffic one way only keeps both ways open
		time.Sleep(150 * time.Millisecond)
		if _, err := backend.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
		if time.Since(start) < 600*time.Millisecond {
			t.Fatalf("closed after %s while traffic flowed", time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
	client.SetReadDeadline(time.Now().Add(time.Second))
	if b, err := io.ReadAll(client); err != nil || string(b) != "xxxx" {
		t.Fatalf("client read %q, %v; want the bytes then EOF", b, err)
	}
}
