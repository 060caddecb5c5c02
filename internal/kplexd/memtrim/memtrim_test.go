package memtrim

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFile(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestTrimDropsExecutablePages: after a trim the process maps fewer pages of its own
// executable, and keeps running (the pages fault back in as needed).
func TestTrimDropsExecutablePages(t *testing.T) {
	before := rssFile(t)
	n, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no mappings of the executable")
	}
	after := rssFile(t)
	if after >= before {
		t.Fatalf("RssFile %d kB -> %d kB: trim released nothing", before, after)
	}
	t.Logf("RssFile %d kB -> %d kB (advised %d MiB)", before, after, n>>20)
}
