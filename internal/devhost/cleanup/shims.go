package cleanup

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// shimSocketDir is where containerd 1.6's shims create their sockets,
// whatever containerd's configured state directory.
const shimSocketDir = "/run/containerd/s"

// ShimSocket is the socket path containerd 1.6 gives the shim of task id in
// namespace ns of the containerd listening on address: a hash of the three,
// so it names one devhost's shims and nobody else's.
func ShimSocket(address, ns, id string) string {
	return filepath.Join(shimSocketDir, fmt.Sprintf("%x", sha256.Sum256([]byte(filepath.Join(address, ns, id)))))
}

// RemoveShimSockets deletes the sockets of killed shims, which a shim removes
// itself only when it exits cleanly. Task ids are the directories containerd
// keeps for them under taskDir (<state>/io.containerd.runtime.v2.task/<ns>).
func RemoveShimSockets(address, ns, taskDir string) error {
	entries, err := os.ReadDir(taskDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list containerd tasks: %w", err)
	}
	for _, e := range entries {
		sock := ShimSocket(address, ns, e.Name())
		if st, err := os.Lstat(sock); err == nil && st.Mode().Type() == os.ModeSocket {
			if err := os.Remove(sock); err != nil {
				return fmt.Errorf("remove shim socket: %w", err)
			}
		}
	}
	RemoveIfEmpty(shimSocketDir, filepath.Dir(shimSocketDir))
	return nil
}
