package translate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Tenant identifies one virtual cluster on the host.
type Tenant struct {
	// Name is the VirtualCluster's name. It is the value of LabelManagedBy and
	// LabelTenant, so it must be a DNS-1123 label.
	Name string
	// HostNamespace is the host namespace the tenant's objects are copied into.
	HostNamespace string
}

// Translator holds one tenant's naming and label rules. It is immutable and
// safe for concurrent use.
type Translator struct {
	tenant Tenant
	// tag identifies the tenant in readable host names (see HostName).
	tag string
}

// New returns the Translator of tenant.
func New(tenant Tenant) (*Translator, error) {
	if errs := content.IsDNS1123Label(tenant.Name); len(errs) > 0 {
		return nil, fmt.Errorf("invalid tenant name %q (use the VirtualCluster's name, a DNS-1123 label): %s",
			tenant.Name, strings.Join(errs, "; "))
	}
	if errs := content.IsDNS1123Label(tenant.HostNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("invalid host namespace %q for tenant %q (must be a namespace name): %s",
			tenant.HostNamespace, tenant.Name, strings.Join(errs, "; "))
	}
	return &Translator{tenant: tenant, tag: tenantTag(tenant.Name)}, nil
}

// Tenant returns the tenant t translates for.
func (t *Translator) Tenant() Tenant { return t.tenant }
