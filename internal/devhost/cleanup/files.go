package cleanup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// cgroupMount is where the machine mounts its cgroup hierarchies.
const cgroupMount = "/sys/fs/cgroup"

// RemoveCgroups removes the cgroup subtree root (e.g. "/kplex-devhost") from
// every hierarchy, children first. The cgroups must hold no process.
func RemoveCgroups(root string) error {
	hierarchies, err := os.ReadDir(cgroupMount)
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var errs []error
	candidates := []string{filepath.Join(cgroupMount, root)} // a cgroup v2-only machine
	for _, h := range hierarchies {
		candidates = append(candidates, filepath.Join(cgroupMount, h.Name(), root))
	}
	for _, top := range candidates {
		if _, err := os.Stat(filepath.Join(top, "cgroup.procs")); err != nil {
			continue
		}
		if err := removeCgroupTree(top); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupTree(top string) error {
	var dirs []string
	err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // a cgroup removed while walking is fine
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		var err error
		for try := 0; try < 50; try++ {
			// An emptied memory cgroup may stay busy for a moment.
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

// cniResultDir is where libcni caches the result of every ADD (containerd does not let it move).
const cniResultDir = "/var/lib/cni/results"

// RemoveCNICache deletes libcni's cached results of the network named
// network ("<network>-<container>-<ifname>") and of the loopback set-up of the
// same containers ("cni-loopback-<container>-lo").
func RemoveCNICache(network string) error {
	entries, err := os.ReadDir(cniResultDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list CNI cache: %w", err)
	}
	var doomed []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), network+"-")
		if !ok {
			continue
		}
		doomed = append(doomed, e.Name())
		if i := strings.LastIndexByte(rest, '-'); i > 0 {
			doomed = append(doomed, "cni-loopback-"+rest[:i]+"-lo")
		}
	}
	for _, name := range doomed {
		if err := os.Remove(filepath.Join(cniResultDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove CNI cache entry: %w", err)
		}
	}
	return nil
}

// RemoveIfEmpty removes each directory that exists and is empty, in order
// (children first), such as the shim socket directory containerd's shims
// create in /run whatever containerd's own state directory is.
func RemoveIfEmpty(dirs ...string) {
	for _, d := range dirs {
		_ = syscall.Rmdir(d) // fails, harmlessly, when not empty or absent
	}
}

// containerLogLinks is where the kubelet links every container's log file (not configurable).
const containerLogLinks = "/var/log/containers"

// RemoveLogLinks deletes the kubelet's links in /var/log/containers that point below podLogDir.
func RemoveLogLinks(podLogDir string) error {
	entries, err := os.ReadDir(containerLogLinks)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list container log links: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(containerLogLinks, e.Name())
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, podLogDir+"/") {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove container log link: %w", err)
		}
	}
	return nil
}

// RemovePaths deletes each path after checking that no mount is left below
// dataDir: a forgotten bind mount (a pod's hostPath) must never be emptied.
func RemovePaths(dataDir string, paths []string) error {
	if left, err := MountsUnder(dataDir); err != nil {
		return err
	} else if len(left) > 0 {
		return fmt.Errorf("refusing to delete devhost files: %s is still mounted", left[0])
	}
	var errs []error
	for _, p := range paths {
		p = filepath.Clean(p)
		if !strings.HasPrefix(p, dataDir+"/") {
			errs = append(errs, fmt.Errorf("refusing to delete %s: not below %s", p, dataDir))
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
