package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// memory is the resident memory of the devhost's processes.
type memory struct {
	total, anon, file int64 // bytes
	byCommand         map[string]int64
	processes         int
}

// netnsInode identifies the devhost's processes: every one of them lives in
// its network namespace or in its pods' cgroup.
func netnsInode() (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/kplex-devhost", &st); err != nil {
		return 0, fmt.Errorf("devhost network namespace: %w", err)
	}
	return st.Ino, nil
}

func devhostMemory(ino uint64) (memory, error) {
	m := memory{byCommand: map[string]int64{}}
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return m, err
	}
	for _, p := range procs {
		var st syscall.Stat_t
		inNetns := syscall.Stat(filepath.Join(p, "ns", "net"), &st) == nil && st.Ino == ino
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		if !inNetns && !bytes.Contains(cg, []byte(":/kplex-devhost")) {
			continue
		}
		anon, file, err := rss(filepath.Join(p, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		comm, _ := os.ReadFile(filepath.Join(p, "comm"))
		m.byCommand[strings.TrimSpace(string(comm))] += anon + file
		m.anon += anon
		m.file += file
		m.total += anon + file
		m.processes++
	}
	return m, nil
}

// rss reads RssAnon and RssFile (+RssShmem) from /proc/PID/status, in bytes.
func rss(status string) (anon, file int64, err error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:", "RssShmem:":
			file += kb << 10
		}
	}
	return anon, file, sc.Err()
}
