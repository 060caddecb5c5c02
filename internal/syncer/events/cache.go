package events

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// cachedMessage bounds a cached host message: what is shown is at most maxMessage after
// rewriting, and host names are shorter than the virtual names that replace them only
// rarely by more than this margin.
const cachedMessage = 2 * maxMessage

// newHostCache is an informer on the host's Events, in the host namespace only and only
// about objects in that namespace (the API server filters), keeping only what Virtual
// reads (slim). It is apart from the host cluster's cache, which is limited to objects
// labelled as the tenant's: the host's components do not label their events. It uses the
// host cluster's HTTP client, so its requests share the host API's rate limit.
func newHostCache(host cluster.Cluster, scheme *runtime.Scheme, namespace string) (cache.Cache, error) {
	return cache.New(host.GetConfig(), cache.Options{
		HTTPClient:        host.GetHTTPClient(),
		Scheme:            scheme,
		Mapper:            host.GetRESTMapper(),
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Event{}: {
				Field:     fields.OneTermEqualSelector("involvedObject.namespace", namespace),
				Transform: slim,
			},
		},
	})
}

// slim keeps what a virtual event is made of. Events are the host's most numerous
// objects: no managed fields, labels, annotations or related object are kept, messages
// are cut, and an event about a kind that is never synced keeps only its name.
func slim(o any) (any, error) {
	ev, ok := o.(*corev1.Event)
	if !ok {
		return o, nil
	}
	s := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ev.Namespace, Name: ev.Name, UID: ev.UID, ResourceVersion: ev.ResourceVersion,
		},
		InvolvedObject: ev.InvolvedObject,
	}
	if newObject(involvedKind(ev.InvolvedObject)) == nil {
		return s, nil
	}
	s.Reason, s.Type, s.Action = ev.Reason, ev.Type, ev.Action
	// A copy: a cut string would keep the whole host message alive.
	s.Message = strings.Clone(truncateWords(ev.Message, cachedMessage))
	s.Source = ev.Source
	s.FirstTimestamp, s.LastTimestamp, s.Count = ev.FirstTimestamp, ev.LastTimestamp, ev.Count
	s.EventTime, s.Series = ev.EventTime, ev.Series
	s.ReportingController, s.ReportingInstance = ev.ReportingController, ev.ReportingInstance
	return s, nil
}
