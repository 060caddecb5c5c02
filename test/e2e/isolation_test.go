package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestIsolation: two tenants made by the operator with default settings, a web server and a
// client pod in each, real traffic with kube-router enforcing the host's policies. From a's
// client, a's own web server answers (by pod IP and by Service) and a's DNS and API are
// there; b's pod, b's Service, b's control plane, the host API server and the metadata
// address are not. Each refusal has its control: the same target answers a pod of an
// unconfined host namespace, or b's own client. Once b is allowed node ports and publishes
// one, a's client reaches it through the node, and still nothing else of b's. a is allowed
// Ingresses, and the host's (stand-in) ingress controller reaches what they lead to only.
// Last, a's own NetworkPolicies close a's pods to each other and open them again as a real
// cluster would.
func TestIsolation(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	specA := v1alpha1.VirtualClusterSpec{}
	specA.Isolation.AllowIngresses = true
	c, clients := operatorTenantsWith(ctx, t, env, ingressControllerInstall(), map[string]v1alpha1.VirtualClusterSpec{"a": specA, "b": {}})

	const ns = "net"
	tenants := map[string]*tenant{}
	for name, cs := range clients {
		tenantNamespace(t, name, cs, ns)
		mustPod(ctx, t, cs, ns, testenv.WebPod("web", "hello from "+name))
		mustPod(ctx, t, cs, ns, sleeper("client", map[string]string{"app": "client"}))
		mustService(ctx, t, cs, ns, "web", map[string]string{"app": "web"}, "")
	}
	mustPod(ctx, t, clients["a"], ns, sleeper("z", map[string]string{"app": "z"})) // for the tenant's own policies, last
	for name, cs := range clients {
		tn := &tenant{client: hostPod(t, name, ns, "client")[1], webIP: waitVirtualRunning(t, cs, ns, "web").Status.PodIP}
		waitVirtualRunning(t, cs, ns, "client")
		hostNS := v1alpha1.HostNamespace(name)
		for _, s := range []struct {
			name string
			ip   *string
		}{{hostPod(t, name, ns, "web")[1], &tn.webSvc}, {operator.ServiceName, &tn.apiIP}, {operator.DNSServiceName, &tn.dnsIP}} {
			waitFor(t, "host service "+hostNS+"/"+s.name, time.Minute, func(ctx context.Context) (bool, error) {
				got, err := env.client.CoreV1().Services(hostNS).Get(ctx, s.name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				*s.ip = got.Spec.ClusterIP
				return true, nil
			})
		}
		cp, err := env.client.CoreV1().Pods(hostNS).Get(ctx, operator.ControlPlaneName+"-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tn.cpIP = cp.Status.PodIP
		tenants[name] = tn
	}
	a, b := tenants["a"], tenants["b"]
	hostAPI, err := env.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A pod of a host namespace no policy confines: it reaches the host's targets below, so
	// each refusal to a's pod is the policy's doing, not a missing server.
	const controlNS = "isolation-control"
	if _, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	control := tenantPod()
	control.Name = "control"
	if _, err := env.client.CoreV1().Pods(controlNS).Create(ctx, control, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.waitPodRunning(t, controlNS, "control")

	// Each target with the pod it answers: b's own client for b's, the unconfined pod for
	// the host's.
	nsB := v1alpha1.HostNamespace("b")
	targets := []struct {
		what, addr string
		controlNS  string
		control    string
	}{
		{"b's pod", hostPort(b.webIP, 8080), nsB, b.client},
		{"b's Service", hostPort(b.webSvc, 80), nsB, b.client},
		{"b's control plane pod", hostPort(b.cpIP, 6443), nsB, b.client},
		{"b's API Service", hostPort(b.apiIP, 443), nsB, b.client},
		{"the host API server", hostPort(layout.NodeIP, layout.APIPort), controlNS, "control"},
		{"the host API Service", hostPort(hostAPI.Spec.ClusterIP, 443), controlNS, "control"},
		{"the metadata address", hostPort(layout.MetadataIP, 80), controlNS, "control"},
	}
	t.Run("controls: every target answers b's client or an unconfined pod", func(t *testing.T) {
		for _, tg := range targets {
			waitFor(t, tg.controlNS+"/"+tg.control+" connects to "+tg.what+" "+tg.addr, time.Minute, func(ctx context.Context) (bool, error) {
				return connects(ctx, env, tg.controlNS, tg.control, tg.addr)
			})
		}
	})

	nsA := v1alpha1.HostNamespace("a")
	t.Run("a's pod reaches its own pod, Service, DNS and API", func(t *testing.T) {
		for _, own := range []struct{ what, addr string }{
			{"a's pod", hostPort(a.webIP, 8080)}, {"a's Service", hostPort(a.webSvc, 80)}, {"a's API Service", hostPort(a.apiIP, 443)},
		} {
			waitFor(t, "a's client connects to "+own.what+" "+own.addr, time.Minute, func(ctx context.Context) (bool, error) {
				return connects(ctx, env, nsA, a.client, own.addr)
			})
		}
		out, err := env.execInPod(ctx, nsA, a.client, "wget", "-q", "-O-", "http://"+hostPort(a.webSvc, 80)+"/")
		if err != nil || !strings.Contains(out, "hello from a") {
			t.Errorf("a's web through its Service: %q %v", out, err)
		}
		out, err = env.execInPod(ctx, nsA, a.client, "nslookup", "web."+ns+".svc.cluster.local")
		if err != nil || !strings.Contains(out, a.webSvc) {
			t.Errorf("a's DNS: %v\n%s", err, out)
		}
	})

	t.Run("a's pod reaches nothing of b's, nor the host", func(t *testing.T) {
		for _, tg := range targets {
			ok, err := connects(ctx, env, nsA, a.client, tg.addr)
			if ok {
				t.Errorf("a's pod connected to %s at %s", tg.what, tg.addr)
			} else {
				t.Logf("a's pod -> %s %s: refused (%v)", tg.what, tg.addr, err)
			}
		}
		// b's DNS server answers b's names only to b's pods.
		out, err := env.execInPod(ctx, nsA, a.client, "timeout", "8", "nslookup", "web."+ns+".svc.cluster.local", b.dnsIP)
		if err == nil && strings.Contains(out, b.webSvc) {
			t.Errorf("a's pod resolved b's name through b's DNS at %s:\n%s", b.dnsIP, out)
		}
	})

	t.Run("the host's ingress controller reaches the pod and port behind a's Ingress, and nothing else", func(t *testing.T) {
		testIngressEntry(ctx, t, env, c, clients["a"], ns, a, b)
	})

	t.Run("no container of a's runs before its pod's network policy", func(t *testing.T) {
		checkNetworkGate(ctx, t, env, clients["a"], "a")
	})

	// b is allowed node ports and publishes one port of a pod that listens on two: a's pod
	// reaches that port through the node, and still nothing else of b's.
	t.Run("a's pod reaches the NodePort b is allowed, and nothing else of b's", func(t *testing.T) {
		vc := &v1alpha1.VirtualCluster{}
		if err := c.Get(ctx, types.NamespacedName{Name: "b"}, vc); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(vc.DeepCopy())
		vc.Spec.Isolation.AllowNodePorts = true
		if err := c.Patch(ctx, vc, patch); err != nil {
			t.Fatalf("allow b node ports: %v", err)
		}
		// kplexd's admission learns it from its arguments: the control plane restarts.
		waitFor(t, "b's control plane restarted with --allow-node-ports", 3*time.Minute, func(ctx context.Context) (bool, error) {
			sts, err := env.client.AppsV1().StatefulSets(nsB).Get(ctx, operator.ControlPlaneName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := sts.Status
			if !slices.Contains(sts.Spec.Template.Spec.Containers[0].Args, "--allow-node-ports") || st.ObservedGeneration < sts.Generation ||
				st.ReadyReplicas < 1 || st.UpdatedReplicas < 1 || st.CurrentRevision != st.UpdateRevision {
				return false, fmt.Errorf("statefulset %s/%s rolling out: %+v", nsB, sts.Name, st)
			}
			// The operator's status follows a moment later; kplex connect needs it Ready.
			if err := c.Get(ctx, types.NamespacedName{Name: "b"}, vc); err != nil {
				return false, err
			}
			if vc.Status.ObservedGeneration != vc.Generation || vc.Status.Phase != v1alpha1.PhaseReady {
				return false, fmt.Errorf("virtual cluster b: phase %s, observed generation %d of %d", vc.Status.Phase, vc.Status.ObservedGeneration, vc.Generation)
			}
			return true, nil
		})
		csB := tenantClient(ctx, t, env, c, "b") // the old connection went with the old pod
		// The web pod (named port http = 8080) with a second server on 9090 (busybox httpd
		// without -f goes to the background).
		mustPod(ctx, t, csB, ns, twoPortWebPod("multi", "hello from b exposed"))
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "exposed"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "multi"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}}
		waitFor(t, "b's virtual cluster admits a NodePort Service", 2*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := csB.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
			return err == nil, err
		})
		multiIP := waitVirtualRunning(t, csB, ns, "multi").Status.PodIP
		hostSvc := hostPod(t, "b", ns, "exposed")[1]
		var nodePort int
		waitFor(t, "b's NodePort Service on the host", time.Minute, func(ctx context.Context) (bool, error) {
			got, err := env.client.CoreV1().Services(nsB).Get(ctx, hostSvc, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			nodePort = int(got.Spec.Ports[0].NodePort)
			return got.Spec.Type == corev1.ServiceTypeNodePort && nodePort != 0, nil
		})
		nodes, err := env.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			t.Fatalf("nodes: %v %v", nodes, err)
		}
		var nodeIP string
		for _, a := range nodes.Items[0].Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				nodeIP = a.Address
			}
		}
		exposed := hostPort(nodeIP, nodePort)
		cp, err := env.client.CoreV1().Pods(nsB).Get(ctx, operator.ControlPlaneName+"-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		closed := []struct{ what, addr string }{
			{"b's exposed pod on a port no Service publishes", hostPort(multiIP, 9090)},
			{"b's pod no NodePort Service selects", hostPort(b.webIP, 8080)},
			{"b's control plane pod", hostPort(cp.Status.PodIP, 6443)},
			{"b's API Service", hostPort(b.apiIP, 443)},
		}
		// Controls: the unconfined pod reaches the node port; b's client reaches each target.
		waitFor(t, "the unconfined pod connects to b's node port "+exposed, time.Minute, func(ctx context.Context) (bool, error) {
			return connects(ctx, env, controlNS, "control", exposed)
		})
		for _, tg := range closed {
			waitFor(t, "b's client connects to "+tg.what+" "+tg.addr, time.Minute, func(ctx context.Context) (bool, error) {
				return connects(ctx, env, nsB, b.client, tg.addr)
			})
		}

		waitFor(t, "a's client reads b's web page through node port "+exposed, time.Minute, func(ctx context.Context) (bool, error) {
			out, err := env.execInPod(ctx, nsA, a.client, "timeout", "3", "wget", "-q", "-O-", "http://"+exposed+"/")
			return strings.Contains(out, "hello from b exposed"), err
		})
		for _, tg := range closed {
			if ok, err := connects(ctx, env, nsA, a.client, tg.addr); ok {
				t.Errorf("a's pod connected to %s at %s", tg.what, tg.addr)
			} else {
				t.Logf("a's pod -> %s %s: refused (%v)", tg.what, tg.addr, err)
			}
		}
		if err := c.Get(ctx, types.NamespacedName{Name: "b"}, vc); err != nil {
			t.Fatal(err)
		}
		if msg := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionIsolation).Message; !strings.Contains(msg, hostSvc) {
			t.Errorf("b's IsolationReady %q does not name the exposed Service %s", msg, hostSvc)
		}
	})

	// Last: the policies it creates close a's pods to each other.
	t.Run("a's own NetworkPolicies are enforced between a's pods", func(t *testing.T) {
		waitVirtualRunning(t, clients["a"], ns, "z")
		testTenantPolicies(ctx, t, env, clients["a"], tenantPolicyPods{
			ns: ns, hostNS: nsA, x: a.client, y: hostPod(t, "a", ns, "web")[1], z: hostPod(t, "a", ns, "z")[1],
			yAddr: hostPort(a.webIP, 8080), dnsName: "web." + ns + ".svc.cluster.local", dnsIP: a.webSvc,
		}, [2]string{nsB, b.client})
	})
}

// tenant is what TestIsolation knows of a tenant's pods and Services.
type tenant struct {
	client             string // host name of the client pod
	webIP, webSvc      string
	apiIP, dnsIP, cpIP string // kplex-apiserver and kplex-dns ClusterIPs, control-plane pod IP
}

// twoPortWebPod serves text on 8080 (port named http) and on 9090 (busybox httpd without
// -f goes to the background).
func twoPortWebPod(name, text string) *corev1.Pod {
	p := testenv.WebPod(name, "")
	p.Spec.Containers[0].Command = []string{"sh", "-c", "mkdir -p /tmp/www && echo '" + text + "' > /tmp/www/index.html && " +
		"httpd -p 9090 -h /tmp/www && exec httpd -f -p 8080 -h /tmp/www"}
	return p
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// connects reports whether a TCP connection from the pod to addr is established within 3
// seconds (busybox nc runs `true` once connected and fails otherwise).
func connects(ctx context.Context, env *devhostEnv, ns, pod, addr string) (bool, error) {
	host, port, _ := net.SplitHostPort(addr)
	out, err := env.execInPod(ctx, ns, pod, "nc", "-w", "3", host, port, "-e", "true")
	if err != nil {
		return false, fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
	}
	return true, nil
}
