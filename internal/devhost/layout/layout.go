// Package layout is where kplex-devhost puts things: the files under its data
// directory and the names and addresses of its network namespace. Every other
// devhost package asks it instead of spelling a path or an address itself.
package layout

import "path/filepath"

// DefaultDataDir is used when --data-dir is not given.
const DefaultDataDir = "/var/lib/kplex-devhost"

// Layout locates the files of one devhost under DataDir.
type Layout struct {
	DataDir string
}

// New returns the layout of dataDir, made absolute.
func New(dataDir string) (Layout, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return Layout{}, err
	}
	return Layout{DataDir: filepath.Clean(abs)}, nil
}

func (l Layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.DataDir}, elem...)...)
}

// Kubeconfig is the cluster-admin kubeconfig for use from the machine (root network namespace).
func (l Layout) Kubeconfig() string { return l.path("kubeconfig") }

// LogDir holds one log file per process; it survives `down` for post-mortems.
func (l Layout) LogDir() string { return l.path("logs") }

// DaemonLog is the log of the in-namespace daemon (control plane, kubelet, kube-proxy, ...).
func (l Layout) DaemonLog() string { return l.path("logs", "daemon.log") }

// ContainerdLog is containerd's log.
func (l Layout) ContainerdLog() string { return l.path("logs", "containerd.log") }

// RunDir holds the pid file, the progress file and the state of the running devhost.
func (l Layout) RunDir() string { return l.path("run") }

// PidFile holds the daemon's process id.
func (l Layout) PidFile() string { return l.path("run", "daemon.pid") }

// ProgressFile is where the daemon appends one line per start-up step reached.
func (l Layout) ProgressFile() string { return l.path("run", "progress") }

// StateFile records what `up` created, so that `down` can remove it even after a crash.
func (l Layout) StateFile() string { return l.path("run", "state.json") }

// ContainerdDir is containerd's home: config, content store, snapshots.
func (l Layout) ContainerdDir() string { return l.path("containerd") }

// ContainerdConfig is the generated containerd configuration.
func (l Layout) ContainerdConfig() string { return l.path("containerd", "config.toml") }

// ContainerdRoot is containerd's persistent root directory.
func (l Layout) ContainerdRoot() string { return l.path("containerd", "root") }

// ContainerdState is containerd's state directory: task bundles, pod network namespaces.
func (l Layout) ContainerdState() string { return l.path("containerd", "state") }

// ContainerdSocket is containerd's gRPC socket (CRI and ctr).
func (l Layout) ContainerdSocket() string { return l.path("containerd", "containerd.sock") }

// ContainerdTaskDir holds one directory per task (pod sandbox or container) of namespace ns.
func (l Layout) ContainerdTaskDir(ns string) string {
	return l.path("containerd", "state", "io.containerd.runtime.v2.task", ns)
}

// RuncRoot is runc's state directory.
func (l Layout) RuncRoot() string { return l.path("containerd", "runc") }

// ControlPlaneDir is the data directory of the control plane (PKI, kubeconfigs, datastore).
func (l Layout) ControlPlaneDir() string { return l.path("controlplane") }

// NodeDir holds the kubelet's and kube-proxy's configuration, kubeconfigs and certificates.
func (l Layout) NodeDir() string { return l.path("node") }

// KubeletRoot is the kubelet's --root-dir (pod volumes are mounted below it).
func (l Layout) KubeletRoot() string { return l.path("kubelet") }

// PodLogDir holds the pods' container logs.
func (l Layout) PodLogDir() string { return l.path("pod-logs") }

// ResolvConf is the resolv.conf the kubelet gives pods with dnsPolicy Default.
func (l Layout) ResolvConf() string { return l.path("node", "resolv.conf") }

// CNIConfDir holds the CNI network configuration containerd loads.
func (l Layout) CNIConfDir() string { return l.path("cni", "net.d") }

// CNIIPAMDir is the host-local IPAM allocation store.
func (l Layout) CNIIPAMDir() string { return l.path("cni", "ipam") }

// ImageDir holds the built image archives.
func (l Layout) ImageDir() string { return l.path("images") }

// VolumeDir holds the directories of dynamically provisioned local-path volumes.
func (l Layout) VolumeDir() string { return l.path("volumes") }

// StatePaths are everything `down` deletes: all but the logs.
func (l Layout) StatePaths() []string {
	return []string{
		l.Kubeconfig(), l.RunDir(), l.ContainerdDir(), l.ControlPlaneDir(), l.NodeDir(),
		l.KubeletRoot(), l.PodLogDir(), l.path("cni"), l.ImageDir(), l.VolumeDir(),
	}
}
