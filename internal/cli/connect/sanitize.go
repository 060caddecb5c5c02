package connect

import (
	"fmt"
	"net/url"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// sanitize returns the tenant kubeconfig reduced to what a kplex control
// plane publishes: an https server, its CA and TLS name, and an embedded
// client certificate or token. The Secret lives on the host next to the
// tenant's workloads, and kplex connect writes its content into the host
// admin's own kubeconfig: a credential plugin (exec, auth-provider) would run
// a command on the admin's machine at the next kubectl call, a file path
// would make kubectl read the admin's files, a proxy or skipped TLS
// verification would send the admin's traffic elsewhere. Any of these is
// refused, naming the field.
func sanitize(cfg *clientcmdapi.Config, source string) (*clientcmdapi.Config, error) {
	cluster, user, err := tenantContext(cfg)
	if err != nil {
		return nil, err
	}
	refuse := func(field string) error {
		return fmt.Errorf("refusing the kubeconfig in %s: it sets %s, which a kplex control plane never writes: check who wrote that Secret", source, field)
	}
	u, err := url.Parse(cluster.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("refusing the kubeconfig in %s: server %q is not an https:// URL", source, cluster.Server)
	}
	switch {
	case cluster.InsecureSkipTLSVerify:
		return nil, refuse("insecure-skip-tls-verify")
	case len(cluster.CertificateAuthorityData) == 0:
		return nil, refuse("no certificate-authority-data (the server could not be verified)")
	case cluster.CertificateAuthority != "":
		return nil, refuse("certificate-authority (a file path)")
	case cluster.ProxyURL != "":
		return nil, refuse("proxy-url")
	case user.Exec != nil:
		return nil, refuse("an exec credential plugin")
	case user.AuthProvider != nil:
		return nil, refuse("an auth-provider")
	case user.ClientCertificate != "" || user.ClientKey != "" || user.TokenFile != "":
		return nil, refuse("a credential file path")
	case user.Impersonate != "" || len(user.ImpersonateGroups) > 0 || user.ImpersonateUID != "" || len(user.ImpersonateUserExtra) > 0:
		return nil, refuse("impersonation")
	case user.Token == "" && (len(user.ClientCertificateData) == 0 || len(user.ClientKeyData) == 0):
		return nil, refuse("no embedded client certificate or token")
	}
	c := clientcmdapi.NewCluster()
	c.Server, c.CertificateAuthorityData, c.TLSServerName = cluster.Server, cluster.CertificateAuthorityData, cluster.TLSServerName
	a := clientcmdapi.NewAuthInfo()
	a.ClientCertificateData, a.ClientKeyData, a.Token = user.ClientCertificateData, user.ClientKeyData, user.Token
	out := clientcmdapi.NewConfig()
	out.Clusters["tenant"], out.AuthInfos["tenant"] = c, a
	out.Contexts["tenant"] = &clientcmdapi.Context{Cluster: "tenant", AuthInfo: "tenant"}
	out.CurrentContext = "tenant"
	return out, nil
}
