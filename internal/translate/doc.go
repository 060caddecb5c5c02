// Package translate maps a tenant's virtual objects to their copies in the
// tenant's host namespace: names, labels, selectors and the metadata that
// records where a host object came from. It is pure (no clients, no I/O) and
// is the only place where these rules live; the syncer, network policies and
// DNS all go through a Translator.
//
// # Host names
//
// Every virtual (namespace, name) of one tenant maps to one host name, always
// a DNS-1035 label (at most 63 characters, lowercase alphanumerics and '-',
// starting with a letter), so it is valid for every kind, Services included.
// There are two forms, told apart by the length of the segment after the
// last '-':
//
//	readable: <name>-<namespace>-<tag><len>   e.g. web-0-shop-4z3ryswh04
//	hashed:   <readable prefix>-<hash>         e.g. kube-root-ca-crt-shop-6vn4qfhmijgdfjcg
//
// The readable form is used when name is a DNS-1035 label, namespace is a
// DNS-1123 label and the result fits. <tag> is 8 base32 characters (40 bits)
// of a hash of the tenant name and <len> is len(namespace) as two decimal
// digits, so the last two characters give the exact split between name and
// namespace: the readable form decodes back to its input, hence it is
// injective without relying on any hash. Another tenant sharing the host
// namespace has another tag; tenant names are chosen by the host admin, not
// by tenants, so no tenant can steer its tag onto another's.
//
// Every other input (names with dots or uppercase, long names, cluster-scoped
// objects) takes the hashed form: a sanitized, truncated readable prefix for
// humans, then 16 base32 characters (80 bits) of SHA-256 over the tenant,
// namespace and name, each length-prefixed so that no two inputs share an
// encoding. The prefix carries no identity; the hash does. The last segment
// of a hashed name has 16 characters, of a readable one 10: the forms never
// meet.
//
// No encoding of arbitrary (namespace, name) pairs into 63 characters can be
// injective, so the hashed form is injective only as far as SHA-256 truncated
// to 80 bits is collision-free. A tenant willing to spend ~2^40 hashes could
// make two of its own objects collide (reaching another tenant's name takes a
// second preimage, ~2^80); that harms only itself, and never silently: the annotations below are authoritative, and VirtualRef on the
// existing host object names the other virtual object, which the syncer must
// treat as a conflict.
//
// The naming scheme is part of the on-host format: changing it renames every
// host object (VirtualRef rejects a host object whose name does not match its
// annotations). Golden tests pin it.
//
// # Metadata
//
// HostMeta records the virtual namespace, name and UID in annotations
// (AnnotationVirtualNamespace, AnnotationVirtualName, AnnotationVirtualUID)
// and marks the object with LabelManagedBy and LabelTenant, both set to the
// tenant name. VirtualRef reads the annotations back, and only from objects
// that IsOwned (managed-by this tenant, in its host namespace) and whose name
// is the one HostName gives for the recorded namespace and name. The tenant's
// own annotations are not copied: host components act on annotations (CNI
// network attachments, service mesh injection, autoscaler hints), so each
// syncer copies only the ones it has decided are safe.
//
// # Labels
//
// A virtual label k=v keeps its value and gets a key under a kplex domain that
// no host component interprets:
//
//	app=web                        -> vl.kplex.dev/app=web
//	app.kubernetes.io/name=web     -> app.kubernetes.io.vl.kplex.dev/name=web
//	kplex.dev/managed-by=other     -> kplex.dev.vl.kplex.dev/managed-by=other
//	<prefix longer than 240>/n=v   -> vlh.kplex.dev/<52 base32 of SHA-256(key)>=v
//
// The mapping is injective (the original key is the host prefix minus
// ".vl.kplex.dev"), so VirtualLabels recovers every label except the hashed
// ones, whose prefix leaves no room under the 253-character limit. Because
// every tenant key ends up under vl.kplex.dev or vlh.kplex.dev, a tenant
// cannot set, forge or remove kplex's own labels: keys it sends under
// kplex.dev/ are escaped like any other.
//
// Every host copy also carries LabelManagedBy=<tenant>, LabelTenant=<tenant>
// and LabelVirtualNamespace=<virtual namespace> (the namespace as-is, being a
// DNS-1123 label and so a valid label value; anything else is replaced by
// "h_" and a hash, a form no namespace name can take). HostSelector translates
// each requirement key by key and adds these three as matchLabels. Since host
// label keys are an injective image of virtual keys with the values
// unchanged, a translated requirement holds on a host copy exactly when the
// original holds on the virtual object, for every operator (In, NotIn,
// Exists, DoesNotExist); the added labels confine the result to this tenant's
// copies of objects from that one virtual namespace, which also bounds
// NotIn and DoesNotExist.
//
// Input the virtual API server would reject (invalid label keys or values)
// is dropped by HostLabels and refused by HostSelector, so output is always
// valid for the host API server.
package translate
