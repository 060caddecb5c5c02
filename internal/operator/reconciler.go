package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/ssa"
)

// Finalizer holds a VirtualCluster until its host objects are gone.
const Finalizer = "kplex.dev/host-objects"

// fieldOwner is the operator's server-side apply identity.
const fieldOwner = "kplex-operator"

// How soon to look again at what is not watched: the kubeconfig Secret (the operator may
// only get it by name), a terminating namespace, a missing datastore Secret.
const (
	pollStarting = 2 * time.Second
	pollFailed   = 10 * time.Second
	// pollActivity: how often a Ready cluster's activity Lease is read into
	// status.lastActivityTime (kplexd writes it every 15 s at most).
	pollActivity = time.Minute
)

// Reconciler turns a VirtualCluster into its host objects and reports what it sees.
type Reconciler struct {
	Client client.Client
	// Reader reads uncached: Secrets (never cached: the operator may read only two names),
	// objects it does not watch (namespaces it does not own yet, the tenant's host pods),
	// and what must be seen as it is now, not as the cache last heard.
	Reader client.Reader
	Scheme *runtime.Scheme
	// ControlPlane are the settings every control plane gets.
	ControlPlane ControlPlaneDefaults
	// IngressControllers are admitted to the pods behind the tenants' Ingresses.
	IngressControllers IngressControllers
}

// errNamespaceConflict: kplex-<name> exists and belongs to somebody else.
var errNamespaceConflict = errors.New("namespace conflict")

// Reconcile: fetch -> finalizer -> phases; the status is patched once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	vc := &v1alpha1.VirtualCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, vc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := vc.DeepCopy()
	defer func() {
		vc.Status.ObservedGeneration = vc.Generation
		if apiequality.Semantic.DeepEqual(before.Status, vc.Status) {
			return
		}
		if perr := r.Client.Status().Patch(ctx, vc, client.MergeFrom(before)); perr != nil && !apierrors.IsNotFound(perr) {
			err = errors.Join(err, fmt.Errorf("patch status of virtual cluster %s: %w", vc.Name, perr))
		}
	}()

	if !vc.DeletionTimestamp.IsZero() {
		return r.delete(ctx, vc)
	}
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		patch := client.MergeFrom(vc.DeepCopy())
		controllerutil.AddFinalizer(vc, Finalizer)
		if err := r.Client.Patch(ctx, vc, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to virtual cluster %s: %w", vc.Name, err)
		}
		before.Finalizers = vc.Finalizers
		before.ResourceVersion = vc.ResourceVersion
	}
	if vc.Status.Phase == "" {
		vc.Status.Phase = v1alpha1.PhasePending
	}
	vc.Status.HostNamespace = v1alpha1.HostNamespace(vc.Name)
	return r.provision(ctx, vc)
}

func (r *Reconciler) provision(ctx context.Context, vc *v1alpha1.VirtualCluster) (ctrl.Result, error) {
	req := readSleepRequest(vc)
	applied, wait, err := r.applyHostObjects(ctx, vc, req.asleep)
	switch {
	case errors.Is(err, errNamespaceConflict):
		r.set(vc, v1alpha1.ConditionHostObjects, false, v1alpha1.ReasonNamespaceConflict,
			fmt.Sprintf("namespace %s exists and was not created for this virtual cluster: delete or rename it, or choose another name", vc.Status.HostNamespace))
		r.summarise(vc, v1alpha1.PhaseFailed)
		return ctrl.Result{RequeueAfter: pollFailed}, nil
	case err != nil:
		r.set(vc, v1alpha1.ConditionHostObjects, false, v1alpha1.ReasonCreateFailed, err.Error())
		r.summarise(vc, v1alpha1.PhaseProvisioning)
		return ctrl.Result{}, err
	case wait != nil:
		r.set(vc, v1alpha1.ConditionHostObjects, false, wait.reason, wait.message)
		r.summarise(vc, wait.phase)
		return ctrl.Result{RequeueAfter: wait.after}, nil
	}
	r.set(vc, v1alpha1.ConditionHostObjects, true, v1alpha1.ReasonCreated, "namespace, RBAC, Services and StatefulSet exist")
	vc.Status.Endpoint = Endpoint(vc.Name)
	switch c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep); {
	case req.badRequest != "" && !waking(vc):
		r.set(vc, v1alpha1.ConditionAsleep, false, v1alpha1.ReasonInvalidSleepRequest, req.badRequest)
	case req.badRequest == "" && c != nil && c.Reason == v1alpha1.ReasonInvalidSleepRequest:
		meta.RemoveStatusCondition(&vc.Status.Conditions, v1alpha1.ConditionAsleep)
	}
	// The StatefulSet as the server answered its apply, not the cache's copy: that may
	// predate the spec just applied and show the old pod ready. Later changes of its
	// status start another reconcile (the operator watches what it owns).
	sts := applied
	if req.asleep {
		return r.sleep(ctx, vc, req, sts)
	}
	cpReady := controlPlaneReady(sts)
	if cpReady {
		r.set(vc, v1alpha1.ConditionControlPlane, true, v1alpha1.ReasonControlPlaneReady, "the control-plane pod is ready")
	} else {
		r.set(vc, v1alpha1.ConditionControlPlane, false, v1alpha1.ReasonControlPlaneStarting,
			fmt.Sprintf("%d/1 control-plane pods ready and up to date (statefulset %s/%s)", sts.Status.ReadyReplicas, sts.Namespace, sts.Name))
	}

	published, err := r.kubeconfigPublished(ctx, vc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if published {
		vc.Status.KubeconfigSecret = &v1alpha1.SecretReference{Namespace: vc.Status.HostNamespace, Name: install.KubeconfigSecret}
		r.set(vc, v1alpha1.ConditionKubeconfig, true, v1alpha1.ReasonKubeconfigPublished, "the admin kubeconfig is in the Secret")
	} else {
		r.set(vc, v1alpha1.ConditionKubeconfig, false, v1alpha1.ReasonKubeconfigMissing,
			fmt.Sprintf("the control plane has not published Secret %s/%s yet", vc.Status.HostNamespace, install.KubeconfigSecret))
	}
	if cpReady && published {
		if waking(vc) {
			r.set(vc, v1alpha1.ConditionAsleep, false, v1alpha1.ReasonAwake, "awake: woken at "+req.wakeAt.UTC().Format(time.RFC3339))
		}
		r.summarise(vc, v1alpha1.PhaseReady)
		return r.watchActivity(ctx, vc, req)
	}
	if waking(vc) {
		r.set(vc, v1alpha1.ConditionAsleep, false, v1alpha1.ReasonWaking, "waking: the control plane is starting; the syncer then recreates the tenant's host pods")
		r.summarise(vc, v1alpha1.PhaseWaking)
		return ctrl.Result{RequeueAfter: pollStarting}, nil
	}
	r.summarise(vc, v1alpha1.PhaseProvisioning)
	return ctrl.Result{RequeueAfter: pollStarting}, nil
}

// waiting says why provisioning cannot go on yet and when to look again.
type waiting struct {
	phase           v1alpha1.Phase
	reason, message string
	after           time.Duration
}

// applyHostObjects creates or updates every host object, in dependency order: the
// isolation objects right after the namespace, before anything runs there; the Service
// before the StatefulSet, whose arguments carry its ClusterIP.
// asleep scales the control plane to zero.
// It returns the StatefulSet as the server holds it once applied.
func (r *Reconciler) applyHostObjects(ctx context.Context, vc *v1alpha1.VirtualCluster, asleep bool) (*appsv1.StatefulSet, *waiting, error) {
	ns := vc.Status.HostNamespace
	cur := &corev1.Namespace{}
	err := r.Reader.Get(ctx, types.NamespacedName{Name: ns}, cur)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, nil, fmt.Errorf("get namespace %s: %w", ns, err)
	case !cur.DeletionTimestamp.IsZero():
		// E.g. the namespace of a deleted virtual cluster of the same name.
		return nil, &waiting{phase: v1alpha1.PhaseProvisioning, reason: v1alpha1.ReasonWaitingForHostNamespace,
			message: fmt.Sprintf("namespace %s is still being deleted", ns), after: pollStarting}, nil
	case cur.Labels[LabelTenant] != vc.Name || !metav1.IsControlledBy(cur, vc):
		// Never adopt: a namespace of that name may hold somebody else's workloads.
		return nil, nil, errNamespaceConflict
	}
	block, err := r.serviceBlock(ctx, cur)
	if err != nil {
		return nil, nil, err
	}
	nsObj, apiSvc, dnsSvc := Namespace(vc), Service(vc), DNSService(vc)
	withBlock(block, nsObj, apiSvc, dnsSvc)
	if err := r.apply(ctx, vc, nsObj); err != nil {
		return nil, nil, err
	}
	if err := r.applyIsolation(ctx, vc); err != nil {
		return nil, nil, err
	}
	objs := []client.Object{ServiceAccount(vc), RoleBinding(vc), ClusterRoleBinding(vc), SleeperRoleBinding(vc)}
	if vc.Spec.Datastore.Type == v1alpha1.DatastoreExternal {
		dsn, w, err := r.externalDSN(ctx, vc)
		if w != nil || err != nil {
			return nil, w, err
		}
		objs = append(objs, DatastoreSecret(vc, dsn))
	}
	objs = append(objs, apiSvc, dnsSvc)
	for _, o := range objs {
		if err := r.apply(ctx, vc, o); err != nil {
			return nil, nil, err
		}
	}
	apiIP, err := clusterIP(apiSvc)
	if err != nil {
		return nil, nil, err
	}
	dnsIP, err := clusterIP(dnsSvc)
	if err != nil {
		return nil, nil, err
	}
	sts := StatefulSet(vc, apiIP, dnsIP, r.ControlPlane)
	sts.Spec.Template.Spec.Containers[0].Args = append(sts.Spec.Template.Spec.Containers[0].Args, blockArg(block)...)
	if asleep {
		sts.Spec.Replicas = ptr.To[int32](0)
	}
	if err := r.apply(ctx, vc, sts); err != nil {
		return nil, nil, err
	}
	return sts, nil, nil
}

// clusterIP is the address the server gave an applied Service.
func clusterIP(svc *corev1.Service) (string, error) {
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", fmt.Errorf("service %s/%s has no cluster IP", svc.Namespace, svc.Name)
	}
	return svc.Spec.ClusterIP, nil
}

// externalDSN reads the DSN the spec names from namespace kplex-system.
func (r *Reconciler) externalDSN(ctx context.Context, vc *v1alpha1.VirtualCluster) ([]byte, *waiting, error) {
	ref := vc.Spec.Datastore.External.SecretRef
	key := ref.Key
	if key == "" {
		key = "dsn"
	}
	s := &corev1.Secret{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: install.Namespace, Name: ref.Name}, s)
	missing := func(msg string) ([]byte, *waiting, error) {
		return nil, &waiting{phase: v1alpha1.PhaseFailed, reason: v1alpha1.ReasonDatastoreSecretMissing, message: msg, after: pollFailed}, nil
	}
	switch {
	case apierrors.IsNotFound(err):
		return missing(fmt.Sprintf("spec.datastore.external.secretRef: Secret %s/%s not found: create it with the DSN under key %q", install.Namespace, ref.Name, key))
	case err != nil:
		return nil, nil, fmt.Errorf("get datastore secret %s/%s: %w", install.Namespace, ref.Name, err)
	case len(s.Data[key]) == 0:
		return missing(fmt.Sprintf("spec.datastore.external.secretRef: Secret %s/%s has no key %q: put the DSN there", install.Namespace, ref.Name, key))
	}
	return s.Data[key], nil, nil
}

// apply makes obj, owned by vc, what the operator wants.
func (r *Reconciler) apply(ctx context.Context, vc *v1alpha1.VirtualCluster, obj client.Object) error {
	if err := controllerutil.SetControllerReference(vc, obj, r.Scheme); err != nil {
		return fmt.Errorf("own %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	return ssa.Apply(ctx, r.Client, obj, fieldOwner)
}

func controlPlaneReady(sts *appsv1.StatefulSet) bool {
	return sts.Status.ObservedGeneration >= sts.Generation &&
		sts.Status.ReadyReplicas >= 1 && sts.Status.UpdatedReplicas >= 1 &&
		(sts.Status.UpdateRevision == "" || sts.Status.CurrentRevision == sts.Status.UpdateRevision)
}

func (r *Reconciler) kubeconfigPublished(ctx context.Context, vc *v1alpha1.VirtualCluster) (bool, error) {
	s := &corev1.Secret{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: vc.Status.HostNamespace, Name: install.KubeconfigSecret}, s)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get secret %s/%s: %w", vc.Status.HostNamespace, install.KubeconfigSecret, err)
	}
	return len(s.Data[v1alpha1.KubeconfigSecretKey]) > 0, nil
}

// delete removes the ClusterRoleBinding and the namespace (and with it everything in it),
// and lets the VirtualCluster go once the namespace is gone.
func (r *Reconciler) delete(ctx context.Context, vc *v1alpha1.VirtualCluster) (ctrl.Result, error) {
	vc.Status.Phase = v1alpha1.PhaseDeleting
	r.set(vc, v1alpha1.ConditionReady, false, v1alpha1.ReasonDeleting, "deleting the host objects")
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		return ctrl.Result{}, nil
	}
	ns := v1alpha1.HostNamespace(vc.Name)
	crb := &rbacv1.ClusterRoleBinding{}
	if err := r.Reader.Get(ctx, types.NamespacedName{Name: ClusterBindingName(vc.Name)}, crb); err == nil && metav1.IsControlledBy(crb, vc) {
		if err := r.Client.Delete(ctx, crb); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("delete cluster role binding %s: %w", crb.Name, err)
		}
	} else if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("get cluster role binding %s: %w", ClusterBindingName(vc.Name), err)
	}
	cur := &corev1.Namespace{}
	err := r.Reader.Get(ctx, types.NamespacedName{Name: ns}, cur)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get namespace %s: %w", ns, err)
	case !metav1.IsControlledBy(cur, vc):
		// Not ours (a conflict at creation): leave it.
	default:
		if cur.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, cur); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("delete namespace %s: %w", ns, err)
			}
		}
		r.set(vc, v1alpha1.ConditionHostObjects, false, v1alpha1.ReasonDeleting, fmt.Sprintf("waiting for namespace %s to be deleted", ns))
		return ctrl.Result{RequeueAfter: pollStarting}, nil
	}
	patch := client.MergeFrom(vc.DeepCopy())
	controllerutil.RemoveFinalizer(vc, Finalizer)
	if err := r.Client.Patch(ctx, vc, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer of virtual cluster %s: %w", vc.Name, err)
	}
	return ctrl.Result{}, nil
}

// set records a condition for the current generation.
func (r *Reconciler) set(vc *v1alpha1.VirtualCluster, condType string, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&vc.Status.Conditions, metav1.Condition{Type: condType, Status: status,
		Reason: reason, Message: message, ObservedGeneration: vc.Generation})
}

// summarise sets the phase and the Ready condition, whose message is the first unmet
// condition's.
func (r *Reconciler) summarise(vc *v1alpha1.VirtualCluster, phase v1alpha1.Phase) {
	vc.Status.Phase = phase
	if phase == v1alpha1.PhaseReady {
		r.set(vc, v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, "the virtual cluster is ready: its admin kubeconfig is in the Secret named by status.kubeconfigSecret")
		return
	}
	for _, t := range []string{v1alpha1.ConditionHostObjects, v1alpha1.ConditionIsolation, v1alpha1.ConditionControlPlane, v1alpha1.ConditionKubeconfig} {
		if c := meta.FindStatusCondition(vc.Status.Conditions, t); c != nil && c.Status != metav1.ConditionTrue {
			r.set(vc, v1alpha1.ConditionReady, false, c.Reason, c.Message)
			return
		}
	}
	r.set(vc, v1alpha1.ConditionReady, false, v1alpha1.ReasonProvisioning, "provisioning")
}
