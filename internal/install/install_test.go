package install

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/syncer"
)

func TestObjects(t *testing.T) {
	for _, tc := range []struct {
		name, image string
		wantImage   string
		ingress     []string // IngressControllerNamespaces, then the selector
		gateProbe   string
		wantArgs    []string
	}{
		{name: "devhost default", wantImage: DefaultImage},
		{name: "given image", image: "registry.example/kplexd:v1", wantImage: "registry.example/kplexd:v1"},
		{name: "ingress controllers", wantImage: DefaultImage, ingress: []string{"ingress-nginx", "traefik", "app=ctl"},
			wantArgs: []string{"--ingress-controller-namespace=ingress-nginx", "--ingress-controller-namespace=traefik", "--ingress-controller-selector=app=ctl"}},
		{name: "network gate probe", wantImage: DefaultImage, gateProbe: "off", wantArgs: []string{"--network-gate-probe=off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Image: tc.image, NetworkGateProbe: tc.gateProbe}
			if n := len(tc.ingress); n > 0 {
				opts.IngressControllerNamespaces, opts.IngressControllerSelector = tc.ingress[:n-1], tc.ingress[n-1]
			}
			objs, err := Objects(opts)
			if err != nil {
				t.Fatal(err)
			}
			kinds := []string{}
			var dep *appsv1.Deployment
			for _, o := range objs {
				gvk := o.GetObjectKind().GroupVersionKind()
				if gvk.Version == "" || gvk.Kind == "" {
					t.Errorf("%s has no apiVersion/kind", o.GetName())
				}
				if o.GetLabels()[LabelPartOf] != "kplex" {
					t.Errorf("%s %s lacks the %s label", gvk.Kind, o.GetName(), LabelPartOf)
				}
				kinds = append(kinds, gvk.Kind)
				if d, ok := o.(*appsv1.Deployment); ok {
					dep = d
				}
			}
			// The CRD and the namespace must come before what lives in them.
			if kinds[0] != "CustomResourceDefinition" || kinds[1] != "Namespace" {
				t.Fatalf("order: %v", kinds)
			}
			if dep == nil {
				t.Fatal("no Deployment")
			}
			c := dep.Spec.Template.Spec.Containers[0]
			if c.Image != tc.wantImage || !slices.Contains(c.Args, "--default-image="+tc.wantImage) {
				t.Fatalf("image %q args %v, want %q", c.Image, c.Args, tc.wantImage)
			}
			if c.Args[0] != "operator" || !slices.Contains(c.Args, "--leader-elect=true") {
				t.Fatalf("args %v: want the operator subcommand with leader election", c.Args)
			}
			for _, a := range tc.wantArgs {
				if !slices.Contains(c.Args, a) {
					t.Errorf("args %v lack %s", c.Args, a)
				}
			}
			if tc.ingress == nil && slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--ingress-controller") }) {
				t.Errorf("args %v name an ingress controller nobody configured", c.Args)
			}
			if tc.gateProbe == "" && slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--network-gate-probe") }) {
				t.Errorf("args %v set a network gate probe nobody asked for", c.Args)
			}
			if v, err := podsecurity.RestrictedViolations(&dep.Spec.Template.ObjectMeta, &dep.Spec.Template.Spec); err != nil || len(v) > 0 {
				t.Errorf("not Pod Security restricted: %v %v", v, err)
			}
			if !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Fatal("operator root filesystem is writable")
			}
		})
	}
}

// TestOperatorRights checks the operator's ClusterRole stays least-privilege: no wildcards,
// no escalate/impersonate, bind only on the syncer's roles, Secrets readable only by name.
func TestOperatorRights(t *testing.T) {
	cr := operatorClusterRole()
	for _, r := range cr.Rules {
		for _, f := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			if slices.Contains(f, "*") {
				t.Errorf("wildcard in rule %v", r)
			}
		}
		for _, v := range []string{"escalate", "impersonate"} {
			if slices.Contains(r.Verbs, v) {
				t.Errorf("verb %s in rule %v", v, r)
			}
		}
		if slices.Contains(r.Verbs, "bind") && !slices.Equal(r.ResourceNames, []string{SyncerCluster, SyncerInTenant, Sleeper}) {
			t.Errorf("bind not limited to the syncer's roles and the sleeper's: %v", r)
		}
		if slices.Contains(r.Resources, "secrets") {
			for _, v := range r.Verbs {
				if (v == "get" || v == "list" || v == "watch") && len(r.ResourceNames) == 0 {
					t.Errorf("operator may %s every Secret of the cluster: %v", v, r)
				}
			}
		}
		if slices.Contains(r.Resources, "endpointslices") && (!slices.Equal(r.Verbs, []string{"get"}) || !slices.Equal(r.ResourceNames, []string{"kubernetes"})) {
			t.Errorf("operator needs only the host API server's EndpointSlice: %v", r)
		}
		if slices.Contains(r.Resources, "pods") || slices.Contains(r.Resources, "configmaps") {
			t.Errorf("operator needs pods only in tenant namespaces, through %s: %v", Sleeper, r)
		}
	}
}

// TestSyncerRoles: the ClusterRoles the tenants are bound to are exactly the syncer's rights.
func TestSyncerRoles(t *testing.T) {
	if got, want := syncerNamespaceRole().Rules, syncer.HostRole("x", "y").Rules; !slices.EqualFunc(got, want, ruleEqual) {
		t.Fatalf("namespace role %v, want syncer.HostRole %v", got, want)
	}
	if got, want := syncerClusterRole().Rules, syncer.HostClusterRole("x").Rules; !slices.EqualFunc(got, want, ruleEqual) {
		t.Fatalf("cluster role %v, want syncer.HostClusterRole %v", got, want)
	}
	if !strings.HasPrefix(SyncerInTenant, "kplex:") || !strings.HasPrefix(SyncerCluster, "kplex:") {
		t.Fatal("kplex's ClusterRoles are prefixed kplex:")
	}
}

func ruleEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.ResourceNames, b.ResourceNames)
}

// TestGateway: Service kplex-gateway sends port 443 to the gateway port of every operator
// pod, and the operator may patch VirtualClusters (the gateway's wake request).
func TestGateway(t *testing.T) {
	objs, err := Objects(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var svc *corev1.Service
	var dep *appsv1.Deployment
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			svc = o
		case *appsv1.Deployment:
			dep = o
		}
	}
	if svc == nil || svc.Name != GatewayName || svc.Namespace != Namespace {
		t.Fatalf("gateway Service: %v", svc)
	}
	pod := dep.Spec.Template
	for k, v := range svc.Spec.Selector {
		if pod.Labels[k] != v {
			t.Fatalf("Service selector %v does not select the operator's pods %v", svc.Spec.Selector, pod.Labels)
		}
	}
	p := svc.Spec.Ports[0]
	c := pod.Spec.Containers[0]
	if p.Port != 443 || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
		return cp.Name == p.TargetPort.StrVal && cp.ContainerPort == GatewayPort
	}) || !slices.Contains(c.Args, "--gateway-address=:8443") {
		t.Fatalf("Service port %v, container ports %v, args %v: want 443 to the gateway on 8443", p, c.Ports, c.Args)
	}
	if GatewayURL() != "https://kplex-gateway.kplex-system.svc:443" {
		t.Fatalf("GatewayURL %s", GatewayURL())
	}
	patch := false
	for _, r := range operatorClusterRole().Rules {
		patch = patch || slices.Equal(r.Resources, []string{"virtualclusters"}) && slices.Contains(r.Verbs, "patch")
	}
	if !patch {
		t.Fatal("the operator may not patch VirtualClusters: the gateway cannot ask for a wake")
	}
}

// TestSyncerGuardCoversSharedKinds: every kind both the syncer and the operator write in a
// tenant's namespace is guarded by the admission policy, except Secrets (the control plane
// publishes its kubeconfig under the syncer's identity; the syncer's Role is what limits it).
func TestSyncerGuardCoversSharedKinds(t *testing.T) {
	operatorWrites := map[string]bool{}
	for _, r := range operatorClusterRole().Rules {
		if slices.Contains(r.Verbs, "update") || slices.Contains(r.Verbs, "delete") {
			for _, res := range r.Resources {
				operatorWrites[r.APIGroups[0]+"/"+res] = true
			}
		}
	}
	guarded := map[string]bool{}
	for _, r := range syncerGuardPolicy().Spec.MatchConstraints.ResourceRules {
		for _, res := range r.Resources {
			guarded[r.APIGroups[0]+"/"+res] = true
		}
	}
	for _, r := range syncer.HostRole("", "").Rules {
		for _, res := range r.Resources {
			k := r.APIGroups[0] + "/" + res
			if operatorWrites[k] && !guarded[k] && res != "secrets" {
				t.Errorf("%s: the syncer and the operator both write it, and the guard does not keep the syncer off the operator's", k)
			}
		}
	}
	p := syncerGuardPolicy()
	if len(p.Spec.MatchConditions) != 1 || !strings.Contains(p.Spec.MatchConditions[0].Expression, ":"+ControlPlaneServiceAccount+"$") {
		t.Errorf("guard applies to %+v, want the tenants' control-plane service accounts", p.Spec.MatchConditions)
	}
	if b := syncerGuardBinding(); b.Spec.PolicyName != p.Name || !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
		t.Errorf("binding %+v does not deny with policy %s", b.Spec, p.Name)
	}
}
