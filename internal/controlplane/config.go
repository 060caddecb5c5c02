// Package controlplane runs one Kubernetes control plane in this process: a kine datastore,
// kube-apiserver and kube-controller-manager (plus kube-scheduler in the host profile).
package controlplane

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kplex-dev/kplex/internal/admission"
	"github.com/kplex-dev/kplex/internal/controlplane/args"
)

// Profile selects which upstream components and controllers run.
type Profile string

const (
	// ProfileVirtual is a tenant's control plane: no scheduler, no node-bound controllers.
	ProfileVirtual Profile = "virtual"
	// ProfileHost is a whole cluster's control plane: scheduler and every default controller.
	ProfileHost Profile = "host"
)

// Arg is one --key=value flag handed to an upstream component; later entries win.
type Arg = args.Arg

// Config is everything `kplexd controlplane` accepts.
type Config struct {
	Name                    string        // cluster name, used in certificate names and contexts
	DataDir                 string        // PKI, kubeconfigs and the embedded SQLite store live here
	BindAddress             string        // address the API server listens on
	SecurePort              int           // API server port
	AdvertiseAddress        string        // address published in the kubernetes Service endpoints; empty disables the reconciler
	TLSSANs                 []string      // extra names and IPs on the serving certificate
	DatastoreEndpoint       string        // kine DSN; empty means SQLite in DataDir
	DatastoreConnectTimeout time.Duration // how long an external datastore may take to answer
	ServiceCIDR             string
	ClusterCIDR             string // host profile: pod network, node CIDRs are allocated from it
	Profile                 Profile
	Verbosity               int
	APIServerArgs           []Arg // user overrides, applied after the defaults
	ControllerArgs          []Arg
	SchedulerArgs           []Arg
	TenantPolicy            admission.Config // virtual profile: what the tenant's API server refuses
}

// Validate reports the first invalid field as one line that names the flag and the fix.
func (c *Config) Validate() error {
	if c.Name == "" || strings.ContainsAny(c.Name, " /\\:") {
		return fmt.Errorf("invalid --name %q: use a short DNS-style name such as \"tenant-a\"", c.Name)
	}
	if c.DataDir == "" {
		return fmt.Errorf("--data-dir is required: give a writable directory for the cluster's state")
	}
	if net.ParseIP(c.BindAddress) == nil {
		return fmt.Errorf("invalid --bind-address %q: give an IP address such as 127.0.0.1 or 0.0.0.0", c.BindAddress)
	}
	if c.SecurePort < 1 || c.SecurePort > 65535 {
		return fmt.Errorf("invalid --secure-port %d: give a port between 1 and 65535", c.SecurePort)
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("invalid --advertise-address %q: give an IP address", c.AdvertiseAddress)
	}
	if _, err := c.FirstServiceIP(); err != nil {
		return err
	}
	if c.ClusterCIDR != "" {
		if _, _, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
			return fmt.Errorf("invalid --cluster-cidr %q: give a CIDR such as 10.244.0.0/16", c.ClusterCIDR)
		}
	}
	switch c.Profile {
	case ProfileVirtual, ProfileHost:
	default:
		return fmt.Errorf("invalid --profile %q: use \"virtual\" or \"host\"", c.Profile)
	}
	if err := c.TenantPolicy.Validate(); err != nil {
		return err
	}
	for _, s := range c.TLSSANs {
		if s == "" || strings.ContainsAny(s, " /,") {
			return fmt.Errorf("invalid --tls-san %q: give one DNS name or IP address per flag", s)
		}
	}
	return nil
}

// FirstServiceIP is the address of the kubernetes Service: the first host of ServiceCIDR.
func (c *Config) FirstServiceIP() (net.IP, error) {
	_, ipnet, err := net.ParseCIDR(c.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("invalid --service-cidr %q: give a CIDR such as 10.96.0.0/16", c.ServiceCIDR)
	}
	ip := make(net.IP, len(ipnet.IP))
	copy(ip, ipnet.IP)
	ip[len(ip)-1]++
	if !ipnet.Contains(ip) {
		return nil, fmt.Errorf("invalid --service-cidr %q: too small to hold a service IP", c.ServiceCIDR)
	}
	return ip, nil
}

// Paths under DataDir.
func (c *Config) pkiDir() string        { return filepath.Join(c.DataDir, "pki") }
func (c *Config) kubeconfigDir() string { return filepath.Join(c.DataDir, "kubeconfig") }
func (c *Config) dbDir() string         { return filepath.Join(c.DataDir, "db") }

// AdminKubeconfig is the path of the cluster-admin kubeconfig (client certificate in system:masters).
func (c *Config) AdminKubeconfig() string {
	return filepath.Join(c.kubeconfigDir(), "admin.kubeconfig")
}

// checkWritable fails early, with the fix, when DataDir cannot hold the cluster's state.
func (c *Config) checkWritable() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s is not usable (%v): choose a writable --data-dir", c.DataDir, err)
	}
	f, err := os.CreateTemp(c.DataDir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable (%v): fix its permissions or choose another --data-dir", c.DataDir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
