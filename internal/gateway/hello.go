package gateway

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// TLS wire constants (RFC 8446 section 5.1 and 4).
const (
	recordTypeHandshake   = 22
	recordHeaderLen       = 5
	maxRecordPayload      = 1 << 14 // a plaintext record carries at most 2^14 bytes
	handshakeClientHello  = 1
	handshakeHeaderLen    = 4
	extensionServerName   = 0
	serverNameTypeHost    = 0
	maxServerNameLen      = 253 // a DNS name; the gateway never needs more
	defaultMaxHelloLength = 16 << 10
)

// Reasons a connection is refused before any tenant is chosen. They are logged, never the
// bytes that caused them.
var (
	errNotTLS       = errors.New("not a TLS handshake")
	errHelloTooBig  = errors.New("ClientHello larger than the limit")
	errBadHello     = errors.New("malformed ClientHello")
	errNoServerName = errors.New("ClientHello without a server name (SNI)")
)

// readClientHello reads the TLS records that carry the client's first handshake message,
// without answering it, and returns every byte read (to be replayed to the backend, which
// then does the real handshake) and the server name the client asked for. It reads no byte
// past the ClientHello's last record, and at most limit bytes in all, headers included.
func readClientHello(r io.Reader, limit int) (raw []byte, serverName string, err error) {
	var msg []byte // the handshake message, reassembled from the records' payloads
	for {
		if len(raw)+recordHeaderLen > limit {
			return raw, "", errHelloTooBig
		}
		hdr := make([]byte, recordHeaderLen)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return raw, "", fmt.Errorf("read TLS record header: %w", err)
		}
		raw = append(raw, hdr...)
		// A handshake record with a legacy version of SSL 3.0 to TLS 1.3 (0x0300-0x0304);
		// anything else (an HTTP request, SSH, a TLS alert) is not for the gateway.
		if hdr[0] != recordTypeHandshake || hdr[1] != 3 || hdr[2] > 4 {
			return raw, "", errNotTLS
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		// Empty handshake fragments are forbidden (RFC 8446 5.1); refusing them also stops a
		// client from sending headers forever.
		if n == 0 || n > maxRecordPayload {
			return raw, "", errBadHello
		}
		if len(raw)+n > limit {
			return raw, "", errHelloTooBig
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		if k, err := io.ReadFull(r, raw[start:]); err != nil {
			return raw[:start+k], "", fmt.Errorf("read TLS record: %w", err)
		}
		msg = append(msg, raw[start:]...)
		if len(msg) < handshakeHeaderLen {
			continue
		}
		if msg[0] != handshakeClientHello {
			return raw, "", errBadHello
		}
		want := handshakeHeaderLen + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if want > limit {
			return raw, "", errHelloTooBig
		}
		if len(msg) < want {
			continue
		}
		if len(msg) > want {
			// The client sent more than its ClientHello before any answer: not a client
			// the gateway can pass on faithfully.
			return raw, "", errBadHello
		}
		name, err := parseServerName(msg[handshakeHeaderLen:])
		return raw, name, err
	}
}

// parseServerName returns the host_name of the server_name extension (RFC 6066) of a
// ClientHello body.
func parseServerName(body []byte) (string, error) {
	s := cryptobyte.String(body)
	var version uint16
	var random, sessionID, suites, compression, exts cryptobyte.String
	if !s.ReadUint16(&version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) || len(sessionID) > 32 ||
		!s.ReadUint16LengthPrefixed(&suites) || len(suites) == 0 || len(suites)%2 != 0 ||
		!s.ReadUint8LengthPrefixed(&compression) || len(compression) == 0 {
		return "", errBadHello
	}
	if s.Empty() {
		return "", errNoServerName // no extensions at all
	}
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return "", errBadHello
	}
	seen := map[uint16]bool{}
	name := ""
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", errBadHello
		}
		// Two extensions of one type are forbidden (RFC 8446 4.2); a second server name
		// could be read differently by the gateway and the backend.
		if seen[typ] {
			return "", errBadHello
		}
		seen[typ] = true
		if typ != extensionServerName {
			continue
		}
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() || list.Empty() {
			return "", errBadHello
		}
		for !list.Empty() {
			var nameType uint8
			var host cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&host) {
				return "", errBadHello
			}
			if nameType != serverNameTypeHost {
				continue
			}
			if name != "" || len(host) == 0 || len(host) > maxServerNameLen {
				return "", errBadHello
			}
			name = string(host)
		}
	}
	if name == "" {
		return "", errNoServerName
	}
	return name, nil
}
