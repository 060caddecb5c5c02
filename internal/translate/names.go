package translate

import (
	"strconv"
	"strings"
)

const (
	// maxHostNameLength is a DNS label's limit: Services and pods need labels.
	maxHostNameLength = 63
	// tagLength + 2 length digits: the last segment of a readable name.
	tagLength = 8
	// hashLength is the last segment of a hashed name: 80 bits. It must differ
	// from tagLength+2 so the two forms can never produce the same name.
	hashLength = 16
)

// HostName returns the name in the host namespace of the virtual object
// (virtualNamespace, name); virtualNamespace is "" for a cluster-scoped object.
// The result is a DNS-1035 label; see the package documentation for the
// scheme and why it is injective.
func (t *Translator) HostName(virtualNamespace, name string) string {
	if isDNS1035Label(name) && isDNS1123Label(virtualNamespace) &&
		len(name)+1+len(virtualNamespace)+1+tagLength+2 <= maxHostNameLength {
		return name + "-" + virtualNamespace + "-" + t.tag + twoDigits(len(virtualNamespace))
	}
	sum := digest("host-name", t.tenant.Name, virtualNamespace, name)
	prefix := readablePrefix(maxHostNameLength-1-hashLength, name, virtualNamespace)
	if prefix == "" {
		prefix = "x" // a DNS-1035 label starts with a letter; the hash may not
	}
	return prefix + "-" + encodeHash(sum, hashLength)
}

// tenantTag identifies a tenant in readable names: 40 bits keep the few
// tenants that may share a host namespace apart, and tenants do not choose
// their names.
func tenantTag(tenant string) string {
	return encodeHash(digest("tenant-tag", tenant), tagLength)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// readablePrefix joins parts with '-' for humans: lowercase, any other byte
// replaced by '-', no repeated or trailing '-', starting with a letter, at
// most max bytes. It carries no identity.
func readablePrefix(max int, parts ...string) string {
	b := make([]byte, 0, max)
	for _, s := range parts {
		if len(b) > 0 && b[len(b)-1] != '-' && len(b) < max {
			b = append(b, '-')
		}
		for i := 0; i < len(s) && len(b) < max; i++ {
			c := s[i]
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			default:
				c = '-'
			}
			if len(b) == 0 && !('a' <= c && c <= 'z') {
				continue
			}
			if c == '-' && b[len(b)-1] == '-' {
				continue
			}
			b = append(b, c)
		}
	}
	return strings.TrimRight(string(b), "-")
}

// isDNS1123Label reports whether s is a namespace name: 1-63 of [a-z0-9-],
// alphanumeric at both ends.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNS1035Label is isDNS1123Label starting with a letter.
func isDNS1035Label(s string) bool {
	return isDNS1123Label(s) && 'a' <= s[0] && s[0] <= 'z'
}
