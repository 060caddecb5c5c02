// Package containerd configures, starts and stops the containerd of
// kplex-devhost (Debian's package, version 1.6) and imports images into it.
package containerd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// Config is what the generated containerd configuration needs to know.
type Config struct {
	Root         string // persistent state: content store, snapshots, metadata
	State        string // runtime state: task bundles, pod network namespaces
	Socket       string // gRPC socket
	RuncRoot     string // runc's state directory
	SandboxImage string // pause image, already imported
	CNIBinDir    string // CNI plugins, /usr/lib/cni on Debian
	CNIConfDir   string // CNI network configuration
}

// configTemplate is containerd 1.6's version 2 configuration. Settings that
// differ from containerd's defaults, and why:
//   - restrict_oom_score_adj: the machine may lack CAP_SYS_RESOURCE; without it every
//     pod sandbox fails with runc's "can't get final child's PID from pipe: EOF".
//   - netns_mounts_under_state_dir: pod network namespaces live under the data dir,
//     not in /run/netns where they would mix with the machine's.
//   - sandbox_image: the locally built pause image; there is no registry.
//   - every directory under the data dir, so `down` finds everything.
//   - snapshotters that cannot work here are disabled to keep the log readable.
const configTemplate = `version = 2
root = {{ q .Root }}
state = {{ q .State }}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {{ q .Socket }}

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = {{ q (join .Root "opt") }}
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = {{ q .SandboxImage }}
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_selinux = false
    disable_apparmor = true
    stream_server_address = "127.0.0.1"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = {{ q .CNIBinDir }}
      conf_dir = {{ q .CNIConfDir }}
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = {{ q .RuncRoot }}
`

// Render returns the containerd configuration file for c.
func (c Config) Render() ([]byte, error) {
	for name, v := range map[string]string{
		"Root": c.Root, "State": c.State, "Socket": c.Socket, "RuncRoot": c.RuncRoot,
		"SandboxImage": c.SandboxImage, "CNIBinDir": c.CNIBinDir, "CNIConfDir": c.CNIConfDir,
	} {
		if v == "" {
			return nil, fmt.Errorf("containerd config: %s is empty", name)
		}
	}
	tmpl, err := template.New("config.toml").Funcs(template.FuncMap{
		"q":    tomlString,
		"join": func(a, b string) string { return filepath.Join(a, b) },
	}).Parse(configTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write renders the configuration to path.
func (c Config) Write(path string) error {
	b, err := c.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
