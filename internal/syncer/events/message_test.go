package events

import (
	"strings"
	"testing"
)

const (
	hostUID    = "0f8fad5b-d9cb-469f-a165-70867728950e"
	virtualUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	otherUID   = "16fd2706-8baf-433b-82eb-8c7fada847da"
)

func testRewriter() Rewriter {
	names := map[string][2]string{
		"web-shop-abcdefgh04":        {"shop", "web"},
		"web-config-shop-abcdefgh04": {"shop", "web-config"},
		"db-data-x-0123456789abcdef": {"db", "data"},
	}
	return Rewriter{
		HostNamespace: "kplex-acme", VirtualNamespace: "shop",
		HostUID: hostUID, VirtualUID: virtualUID,
		Addresses: []string{"10.244.1.5", "192.168.3.3", "fd00::5"},
		Names: func(h string) (string, string, bool) {
			n, ok := names[h]
			return n[0], n[1], ok
		},
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Successfully assigned kplex-acme/web-shop-abcdefgh04 to worker-a", "Successfully assigned shop/web to worker-a"},
		// The kubelet's pod format: name_namespace(uid).
		{"Back-off restarting failed container app in pod web-shop-abcdefgh04_kplex-acme(" + hostUID + ")",
			"Back-off restarting failed container app in pod web_shop(" + virtualUID + ")"},
		{`MountVolume.SetUp failed for volume "cfg" : configmap "web-config-shop-abcdefgh04" not found`,
			`MountVolume.SetUp failed for volume "cfg" : configmap "web-config" not found`},
		// An object of another virtual namespace keeps its namespace.
		{`claim "db-data-x-0123456789abcdef" is not bound`, `claim "db/data" is not bound`},
		// Event names: the name before the dot.
		{"event web-shop-abcdefgh04.17a3f0", "event web.17a3f0"},
		// Another UID (a preemptor, perhaps another tenant's pod) is hidden; the object's
		// own host UID in a path becomes the virtual one.
		{"Preempted by pod " + strings.ToUpper(otherUID) + " on node worker-a", "Preempted by pod <hidden> on node worker-a"},
		{"/var/lib/kubelet/pods/" + hostUID + "/volumes", "/var/lib/kubelet/pods/" + virtualUID + "/volumes"},
		// The object's own addresses stay; the host's are hidden.
		{`Get "http://10.244.1.5:8080/healthz": dial tcp 10.244.1.5:8080: connect: refused`,
			`Get "http://10.244.1.5:8080/healthz": dial tcp 10.244.1.5:8080: connect: refused`},
		{"dial tcp 10.96.0.10:53: i/o timeout; node 192.168.3.4 and 192.168.3.3", "dial tcp <hidden>:53: i/o timeout; node <hidden> and 192.168.3.3"},
		{"listen [fd00::5]:80 and [fd00::6]:80, fe80::1%eth0", "listen [fd00::5]:80 and [<hidden>]:80, <hidden>"},
		{"::ffff:10.1.2.3 failed", "<hidden> failed"},
		// Not addresses: times, digests, C++ names, image tags.
		{"at 12:34:56 image busybox:1.36@sha256:abcd std::string", "at 12:34:56 image busybox:1.36@sha256:abcd std::string"},
		// Words that are not the tenant's host names stay, including another tenant's.
		{"pod web-shop-zzzzzzzz04 of kplex-acme-0 in kplex-globex", "pod web-shop-zzzzzzzz04 of kplex-acme-0 in kplex-globex"},
	} {
		if got := testRewriter().Message(tc.in); got != tc.want {
			t.Errorf("Message(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestMessageLength(t *testing.T) {
	long := strings.Repeat("é", 2*maxMessage)
	got := testRewriter().Message(long)
	if len(got) > maxMessage || !strings.HasPrefix(long, got) || len(got) < maxMessage-1 {
		t.Errorf("message of %d bytes cut to %d bytes, want %d at a rune boundary", len(long), len(got), maxMessage)
	}
	if got := truncateWords("dial tcp 192.168.3.3:53", 17); got != "dial tcp" {
		t.Errorf("truncateWords kept a partial word: %q", got)
	}
}

// FuzzMessage: whatever the host says, the result fits an event and shows none of the
// host's addresses or UIDs planted in it.
func FuzzMessage(f *testing.F) {
	f.Add("Successfully assigned kplex-acme/web-shop-abcdefgh04 to worker-a")
	f.Add("dial tcp [2001:db8::7]:53")
	f.Fuzz(func(t *testing.T, msg string) {
		got := testRewriter().Message(msg + " 192.168.77.77 " + otherUID + " ")
		if len(got) > maxMessage {
			t.Fatalf("message of %d bytes", len(got))
		}
		if len(msg) < 512 && (strings.Contains(got, otherUID) || strings.Contains(got, "192.168.77.77")) {
			t.Fatalf("a host UID or address shown: %q", got)
		}
	})
}
