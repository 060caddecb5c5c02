package pods

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestHostDNS(t *testing.T) {
	d := DNS{Server: "10.96.0.53", Zone: "cluster.local"}
	searches := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	ndots5 := corev1.PodDNSConfigOption{Name: "ndots", Value: ptr.To("5")}
	tests := []struct {
		name       string
		policy     corev1.DNSPolicy
		own        *corev1.PodDNSConfig
		wantPolicy corev1.DNSPolicy
		want       *corev1.PodDNSConfig
	}{
		{"default policy is ClusterFirst", "", nil, corev1.DNSNone,
			&corev1.PodDNSConfig{Nameservers: []string{"10.96.0.53"}, Searches: searches, Options: []corev1.PodDNSConfigOption{ndots5}}},
		{"ClusterFirstWithHostNet", corev1.DNSClusterFirstWithHostNet, nil, corev1.DNSNone,
			&corev1.PodDNSConfig{Nameservers: []string{"10.96.0.53"}, Searches: searches, Options: []corev1.PodDNSConfigOption{ndots5}}},
		{"own config merged", corev1.DNSClusterFirst, &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example", "svc.cluster.local"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}}, corev1.DNSNone,
			&corev1.PodDNSConfig{Nameservers: []string{"10.96.0.53", "192.0.2.53"}, Searches: append(append([]string{}, searches...), "corp.example"),
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}}},
		{"node resolver kept", corev1.DNSDefault, nil, corev1.DNSDefault, nil},
		{"own resolver kept", corev1.DNSNone, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.53"}}, corev1.DNSNone,
			&corev1.PodDNSConfig{Nameservers: []string{"192.0.2.53"}}},
	}
	for _, tt := range tests {
		spec := &corev1.PodSpec{DNSPolicy: tt.policy, DNSConfig: tt.own}
		hostDNS(spec, "shop", d)
		if spec.DNSPolicy != tt.wantPolicy || !reflect.DeepEqual(spec.DNSConfig, tt.want) {
			t.Errorf("%s: %s %+v, want %s %+v", tt.name, spec.DNSPolicy, spec.DNSConfig, tt.wantPolicy, tt.want)
		}
	}
}
