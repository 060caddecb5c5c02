package image

import (
	"fmt"
	"os"
)

// References of the images kplex-devhost builds. They live under "localhost/":
// a pull of such a name can only ever go to this machine, never to a public
// registry where somebody else could publish an image of the same name.
const (
	PauseRef   = "localhost/kplex/pause:v1"
	TestboxRef = "localhost/kplex/testbox:v1"
	KplexdRef  = "localhost/kplex/kplexd:dev"
)

// NonRootUID is the user kplexd runs as (the "nonroot" user of distroless images).
const NonRootUID = 65532

// pauseUID is the user of the pause process, as in the upstream pause image.
const pauseUID = 65535

// busyboxApplets are the commands of the test image, each a symlink to busybox.
func busyboxApplets() []string {
	return []string{
		"[", "ash", "awk", "cat", "chmod", "chown", "cp", "cut", "date", "dd", "df", "du", "echo",
		"env", "expr", "false", "find", "grep", "head", "hostname", "httpd", "id", "ip", "kill",
		"ln", "ls", "mkdir", "mount", "mv", "nc", "netstat", "nslookup", "ping", "printf", "ps",
		"pwd", "rm", "rmdir", "sed", "seq", "sh", "sleep", "sort", "stat", "sync", "tail", "tee",
		"test", "timeout", "touch", "tr", "true", "uname", "uniq", "vi", "wc", "wget", "which", "xargs",
	}
}

// Pause is the pod sandbox image around the static kplex-pause binary.
func Pause(binary string) (Spec, error) {
	if err := checkStatic(binary, "kplex-pause"); err != nil {
		return Spec{}, err
	}
	return Spec{
		Ref:        PauseRef,
		Entrypoint: []string{"/pause"},
		User:       fmt.Sprintf("%d:%d", pauseUID, pauseUID),
		Files:      []File{{Path: "/pause", Source: binary, Mode: 0o755}},
	}, nil
}

// Testbox is the test image: a static busybox with sh, httpd, wget, nc and the
// other common commands, running as root unless a pod says otherwise.
func Testbox(busybox string) (Spec, error) {
	if err := checkStatic(busybox, "busybox"); err != nil {
		return Spec{}, err
	}
	files := []File{
		{Path: "/bin/busybox", Source: busybox, Mode: 0o755},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
		{Path: "/var/www", Dir: true},
	}
	for _, applet := range busyboxApplets() {
		files = append(files, File{Path: "/bin/" + applet, Link: "busybox"})
	}
	return Spec{
		Ref:   TestboxRef,
		Cmd:   []string{"sh"},
		Env:   []string{"PATH=/bin"},
		Files: files,
	}, nil
}

// Kplexd is the kplexd server image: the static binary, a non-root user and no shell.
// It also carries the network gate (/kplex-netgate), which the syncer runs as the first
// init container of every tenant pod from the control plane's own image.
func Kplexd(binary, netgate string) (Spec, error) {
	if err := checkStatic(binary, "kplexd"); err != nil {
		return Spec{}, err
	}
	if err := checkStatic(netgate, "kplex-netgate"); err != nil {
		return Spec{}, err
	}
	return Spec{
		Ref:        KplexdRef,
		Entrypoint: []string{"/kplexd"},
		User:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		WorkingDir: "/",
		Env:        []string{"HOME=/home/nonroot"},
		Files: []File{
			{Path: "/kplexd", Source: binary, Mode: 0o755},
			{Path: "/kplex-netgate", Source: netgate, Mode: 0o755},
			{Path: "/etc/passwd", Data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID))},
			{Path: "/etc/group", Data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID))},
			{Path: "/home/nonroot", Dir: true, UID: NonRootUID, GID: NonRootUID, Mode: 0o700},
			{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
		},
	}, nil
}
