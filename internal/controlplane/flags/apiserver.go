// Package flags builds the command lines of the upstream components from kplex's
// configuration: kplex's defaults first, the user's --*-arg overrides last. Pure: no I/O,
// and no import of k8s.io/kubernetes, so the benchmark's upstream baseline uses exactly
// the same flags.
package flags

import (
	"strconv"
	"strings"

	"github.com/kplex-dev/kplex/internal/controlplane/args"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// APIServerConfig is what the API server needs from the rest of the control plane.
type APIServerConfig struct {
	BindAddress      string
	SecurePort       int
	AdvertiseAddress string // empty: the kubernetes Service endpoints are not reconciled
	ServiceCIDR      string
	EtcdServers      []string
	EtcdCAFile       string
	EtcdCertFile     string
	EtcdKeyFile      string
	PKI              *pki.Bundle
	HostProfile      bool     // host clusters authorize kubelets with the Node authorizer
	AdmissionPlugins []string // compiled-in plugins enabled after the upstream ones
	ExtraArgs        []args.Arg
}

// Issuer is the service-account token issuer and audience of every kplex cluster, the
// value a real cluster made by kubeadm uses, so that tokens look the way workloads expect.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// APIServer returns the kube-apiserver flags.
func APIServer(c APIServerConfig) []string {
	p := c.PKI
	kubeletCert, kubeletKey := p.Client(pki.ClientAPIServerKubeletClient)
	authz := "RBAC"
	plugins := "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,PersistentVolumeClaimResize,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook"
	if c.HostProfile {
		authz = "Node,RBAC"
		plugins += ",NodeRestriction"
	}
	for _, p := range c.AdmissionPlugins {
		plugins += "," + p
	}
	a := []args.Arg{
		{Key: "bind-address", Value: c.BindAddress},
		{Key: "secure-port", Value: strconv.Itoa(c.SecurePort)},
		{Key: "etcd-servers", Value: strings.Join(c.EtcdServers, ",")},
		{Key: "service-cluster-ip-range", Value: c.ServiceCIDR},
		{Key: "client-ca-file", Value: p.CACert()},
		{Key: "tls-cert-file", Value: p.ServingCert()},
		{Key: "tls-private-key-file", Value: p.ServingKey()},
		{Key: "service-account-key-file", Value: p.SAPub()},
		{Key: "service-account-signing-key-file", Value: p.SAKey()},
		{Key: "service-account-issuer", Value: Issuer},
		{Key: "api-audiences", Value: Issuer},
		{Key: "authorization-mode", Value: authz},
		{Key: "enable-admission-plugins", Value: plugins},
		{Key: "allow-privileged", Value: "true"},
		{Key: "kubelet-client-certificate", Value: kubeletCert},
		{Key: "kubelet-client-key", Value: kubeletKey},
		{Key: "kubelet-preferred-address-types", Value: "InternalIP,Hostname"},
		// Aggregated APIs: the front proxy identifies the user to extension servers.
		{Key: "requestheader-client-ca-file", Value: p.FrontProxyCACert()},
		{Key: "requestheader-allowed-names", Value: "front-proxy-client"},
		{Key: "requestheader-extra-headers-prefix", Value: "X-Remote-Extra-"},
		{Key: "requestheader-group-headers", Value: "X-Remote-Group"},
		{Key: "requestheader-username-headers", Value: "X-Remote-User"},
		{Key: "proxy-client-cert-file", Value: p.FrontProxyClientCert()},
		{Key: "proxy-client-key-file", Value: p.FrontProxyClientKey()},
		// A virtual cluster has no kube-proxy of its own: reach extension servers by endpoint IP.
		{Key: "enable-aggregator-routing", Value: strconv.FormatBool(!c.HostProfile)},
		{Key: "profiling", Value: "false"},
		{Key: "anonymous-auth", Value: "true"}, // only /livez, /readyz, /healthz, /version via system:public-info-viewer
		{Key: "event-ttl", Value: "1h"},
	}
	if !c.HostProfile {
		// A virtual cluster's only kubelet is kplexd's kubelet proxy, serving a certificate
		// of the cluster CA: the API server's kubelet client identity goes nowhere else.
		a = append(a, args.Arg{Key: "kubelet-certificate-authority", Value: p.CACert()})
		// Storage version migration rewrites storage kplex manages: a tenant could create
		// the objects but nothing would act on them. Dynamic resource allocation stays on
		// although only the host runs device drivers: the resource-quota controller
		// always watches ResourceClaims and DeviceClasses (both feature gates are locked
		// on in v1.37) and never syncs without them.
		// --apiserver-arg=runtime-config=... turns storage migration back on.
		a = append(a, args.Arg{Key: "runtime-config", Value: "storagemigration.k8s.io/v1=false"})
	}
	if c.EtcdCAFile != "" {
		a = append(a, args.Arg{Key: "etcd-cafile", Value: c.EtcdCAFile})
	}
	if c.EtcdCertFile != "" {
		a = append(a, args.Arg{Key: "etcd-certfile", Value: c.EtcdCertFile}, args.Arg{Key: "etcd-keyfile", Value: c.EtcdKeyFile})
	}
	if c.AdvertiseAddress != "" {
		a = append(a, args.Arg{Key: "advertise-address", Value: c.AdvertiseAddress})
	} else {
		// A tenant's API server is reached through its host Service, not through the
		// endpoints of its own kubernetes Service; loopback addresses are refused by the reconciler.
		a = append(a, args.Arg{Key: "endpoint-reconciler-type", Value: "none"},
			args.Arg{Key: "advertise-address", Value: fallbackAdvertise(c.BindAddress, c.ServiceCIDR)})
	}
	return args.Render(args.Merge(a, c.ExtraArgs))
}
