package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"testing"
)

// clientHello returns the records of the ClientHello that crypto/tls sends for serverName.
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
		a.Close()
	}()
	defer b.Close()
	raw, _, err := readClientHello(b, defaultMaxHelloLength)
	if err != nil && !errors.Is(err, errNoServerName) {
		t.Fatalf("read crypto/tls's ClientHello: %v", err)
	}
	return raw
}

// refragment splits the handshake bytes of hello (one record) into records of size n.
func refragment(hello []byte, n int) []byte {
	msg := hello[recordHeaderLen:]
	var out []byte
	for len(msg) > 0 {
		k := min(n, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(k>>8), byte(k))
		out = append(out, msg[:k]...)
		msg = msg[k:]
	}
	return out
}

func TestReadClientHello(t *testing.T) {
	hello := clientHello(t, "a.kplex.gateway")
	for _, n := range []int{1, 7, 100, len(hello)} {
		in := refragment(hello, n)
		// Bytes after the hello (none are sent before the server answers, but a reader
		// must not take them) stay unread.
		r := bytes.NewReader(append(append([]byte{}, in...), "after"...))
		raw, name, err := readClientHello(r, 1<<20)
		if err != nil || name != "a.kplex.gateway" {
			t.Fatalf("records of %d bytes: %q, %v", n, name, err)
		}
		if !bytes.Equal(raw, in) || r.Len() != len("after") {
			t.Fatalf("records of %d bytes: read %d bytes of %d, %d left", n, len(raw), len(in), r.Len())
		}
	}
}

func TestReadClientHelloRefuses(t *testing.T) {
	hello := clientHello(t, "a.kplex.gateway")
	noSNI := clientHello(t, "")
	withAppData := append(append([]byte{}, hello...), 23, 3, 3, 0, 1, 0)
	body := hello[recordHeaderLen:]
	twoMessages := append([]byte{22, 3, 1, byte((2 * len(body)) >> 8), byte(2 * len(body))}, append(append([]byte{}, body...), body...)...)
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"http", []byte("GET / HTTP/1.1\r\n"), 1 << 14, errNotTLS},
		{"alert record", []byte{21, 3, 3, 0, 2, 2, 40}, 1 << 14, errNotTLS},
		{"unknown version", []byte{22, 3, 7, 0, 1, 1}, 1 << 14, errNotTLS},
		{"empty record", []byte{22, 3, 1, 0, 0}, 1 << 14, errBadHello},
		{"record over 2^14", []byte{22, 3, 1, 0x40, 1}, 1 << 20, errBadHello},
		{"not a ClientHello", []byte{22, 3, 1, 0, 4, 2, 0, 0, 0}, 1 << 14, errBadHello},
		{"no server name", noSNI, 1 << 14, errNoServerName},
		{"over the limit, by records", refragment(hello, 1), len(hello) + 20, errHelloTooBig},
		{"over the limit, announced", []byte{22, 3, 1, 0, 4, 1, 0, 0x40, 0}, 1 << 14, errHelloTooBig},
		{"two messages in one record", twoMessages, 1 << 16, errBadHello},
		{"truncated body", []byte{22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3}, 1 << 14, errBadHello},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, name, err := readClientHello(bytes.NewReader(tc.in), tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %q, %v; want %v", name, err, tc.want)
			}
		})
	}
	// After a complete hello, bytes that are not part of it are left for the splice.
	if _, name, err := readClientHello(bytes.NewReader(withAppData), 1<<14); err != nil || name != "a.kplex.gateway" {
		t.Fatalf("hello followed by a record: %q, %v", name, err)
	}
	// A hello cut short is an error, not a hang or a partial name.
	if _, name, err := readClientHello(bytes.NewReader(hello[:len(hello)-3]), 1<<14); err == nil {
		t.Fatalf("truncated hello read as %q", name)
	}
}

func FuzzReadClientHello(f *testing.F) {
	hello := clientHello(f, "a.kplex.gateway")
	f.Add(hello)
	f.Add(refragment(hello, 3))
	f.Add(clientHello(f, ""))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	const limit = 4 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, name, err := readClientHello(bytes.NewReader(in), limit)
		if len(raw) > limit+recordHeaderLen || !bytes.HasPrefix(in, raw) {
			t.Fatalf("read %d bytes, not a prefix of the input within the limit", len(raw))
		}
		if err == nil && (name == "" || len(name) > maxServerNameLen) {
			t.Fatalf("accepted server name %q", name)
		}
		if err != nil && name != "" {
			t.Fatalf("error %v with server name %q", err, name)
		}
		if err == nil {
			// The backend must be able to read exactly what the gateway read.
			if _, again, err := readClientHello(bytes.NewReader(raw), limit); err != nil || again != name {
				t.Fatalf("the bytes read do not parse again: %q, %v", again, err)
			}
		}
	})
}
