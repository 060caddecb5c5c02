package gateway

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxTenantName is the longest VirtualCluster name (its host namespace is kplex-<name>).
const maxTenantName = 57

var errForeignServerName = errors.New("server name is not <virtual cluster>.<gateway domain>")

// ServerName is the TLS server name under which the gateway reaches virtual cluster vc:
// the name a tenant's gateway kubeconfig sends, and a SAN of its serving certificate.
func ServerName(vc, domain string) string { return vc + "." + domain }

// ValidateDomain checks a gateway domain: a lower-case DNS name without a trailing dot.
func ValidateDomain(domain string) error {
	if domain == "" {
		return fmt.Errorf("gateway domain is empty: give a DNS name such as kplex.gateway")
	}
	if len(validation.IsDNS1123Subdomain(domain)) > 0 {
		return fmt.Errorf("gateway domain %q: want a lower-case DNS name without a trailing dot, such as kplex.gateway", domain)
	}
	// <vc>.<domain> must itself be a DNS name for every VirtualCluster name.
	if len(domain)+1+maxTenantName > validation.DNS1123SubdomainMaxLength {
		return fmt.Errorf("gateway domain %q: at most %d characters, so that <virtual cluster>.<domain> is a DNS name", domain, validation.DNS1123SubdomainMaxLength-1-maxTenantName)
	}
	return nil
}

// tenantOf returns the virtual cluster a server name asks for: exactly one DNS label in
// front of domain. Names are compared as DNS does: ASCII case does not count and one
// trailing dot (a fully qualified name) is allowed. Anything else is refused, never
// cleaned up: a server name with a slash, a percent sign, an empty label or a second label
// in front of the domain does not name a tenant.
func tenantOf(serverName, domain string) (string, error) {
	name := strings.TrimSuffix(serverName, ".")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "", errForeignServerName
		}
	}
	name = strings.ToLower(name)
	vc, ok := strings.CutSuffix(name, "."+domain)
	if !ok || len(vc) > maxTenantName || len(validation.IsDNS1123Label(vc)) > 0 {
		return "", errForeignServerName
	}
	return vc, nil
}
