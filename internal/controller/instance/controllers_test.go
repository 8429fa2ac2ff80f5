package instance

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

// routing builds a controller set with one generated kind, WebApp, and
// returns the queue of its instances.
func routing(t testing.TB, settle time.Duration) (*Controllers, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	t.Helper()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	t.Cleanup(q.ShutDown)
	k := &kindController{gvk: schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "WebApp"}, queue: q}
	c := &Controllers{kinds: map[schema.GroupKind]*kindController{k.gvk.GroupKind(): k}, childSettle: settle}
	return c, q
}

// deploymentOf is a child Deployment of the WebApp team-a/shop at the given
// resource version.
func deploymentOf(rv string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "shop", UID: "d-1", ResourceVersion: rv,
		Labels: map[string]string{
			v1alpha1.LabelInstanceGroup:     "kro.run",
			v1alpha1.LabelInstanceKind:      "WebApp",
			v1alpha1.LabelInstanceName:      "shop",
			v1alpha1.LabelInstanceNamespace: "team-a",
		},
	}}
}

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	shopRequest   = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "team-a", Name: "shop"}}
)

func TestChildStatusBurstReconcilesItsInstanceOnce(t *testing.T) {
	c, q := routing(t, childUpdateSettle)

	// A worker reconciles whatever reaches the queue.
	var reconciles atomic.Int32
	go func() {
		for {
			req, shutdown := q.Get()
			if shutdown {
				return
			}
			assert.Equal(t, shopRequest, req)
			reconciles.Add(1)
			q.Done(req)
		}
	}()

	// A Deployment's status as kube-controller-manager writes it on the
	// way to available: three updates a few milliseconds apart.
	for rv := 2; rv <= 4; rv++ {
		c.routeChildUpdate(deploymentGVK, deploymentOf(strconv.Itoa(rv-1)), deploymentOf(strconv.Itoa(rv)))
		time.Sleep(5 * time.Millisecond)
	}

	require.Eventually(t, func() bool { return reconciles.Load() > 0 }, 5*time.Second, 5*time.Millisecond, "the burst never reconciled the instance")
	time.Sleep(2 * childUpdateSettle)
	assert.Equal(t, int32(1), reconciles.Load(), "reconciles of the instance for one burst of child updates")
}

func TestChildUpdatesWaitCreationsAndDeletionsDoNot(t *testing.T) {
	c, q := routing(t, time.Hour)

	c.routeChildUpdate(deploymentGVK, deploymentOf("1"), deploymentOf("2"))
	assert.Zero(t, q.Len(), "a child's update reached the queue before the settle window ended")

	c.routeChildChange(deploymentGVK, deploymentOf("1"), 0)
	require.Equal(t, 1, q.Len(), "a new child did not reconcile its instance at once")
	got, _ := q.Get()
	assert.Equal(t, shopRequest, got)
	q.Done(got)

	c.routeChild(deploymentOf("3"), 0)
	assert.Equal(t, 1, q.Len(), "a deleted child did not reconcile its instance at once")
}

func TestChildEventsDuringItsApplyWaitForTheAnswer(t *testing.T) {
	c, q := routing(t, 0)
	k := c.kinds[schema.GroupKind{Group: "kro.run", Kind: "WebApp"}]
	r := &reconciler{c: c, k: k}
	key := keyOf(deploymentGVK, "team-a", "shop")
	routed := func() int {
		n := q.Len()
		for range n {
			req, _ := q.Get()
			q.Done(req)
		}
		return n
	}
	apply := func(rec *appliedRecord, events ...string) int {
		k.applied.begin(key)
		for _, rv := range events {
			c.routeChildChange(deploymentGVK, deploymentOf(rv), 0)
		}
		require.Zero(t, q.Len(), "a child event was routed while the child's apply was in flight")
		if rec != nil {
			k.applied.put(key, rec)
		} else {
			k.applied.forget(key)
		}
		r.routeHeld(key, rec)
		return routed()
	}

	// The watch delivers the apply's own write before its answer is read.
	assert.Zero(t, apply(&appliedRecord{uid: "d-1", rv: "5"}, "5"), "the apply's own write woke its instance")
	// A write the apply's answer already includes.
	assert.Zero(t, apply(&appliedRecord{uid: "d-1", rv: "7"}, "6"), "a write older than the apply's answer woke its instance")
	// A write after the apply's answer.
	assert.Equal(t, 1, apply(&appliedRecord{uid: "d-1", rv: "7"}, "7", "8"), "a write after the apply did not wake its instance")
	// Another incarnation of the object.
	other := &appliedRecord{uid: "d-2", rv: "9"}
	assert.Equal(t, 1, apply(other, "9"), "an event of another object of the same name did not wake the instance")
	// A failed apply answers nothing for the events it held.
	assert.Equal(t, 1, apply(nil, "10"), "an event held during a failed apply was dropped")
	// With no apply in flight, events are routed as before.
	c.routeChildChange(deploymentGVK, deploymentOf("11"), 0)
	assert.Equal(t, 1, routed())
}

func TestResyncAndForeignObjectsAreNotRouted(t *testing.T) {
	c, q := routing(t, 0)

	c.routeChildUpdate(deploymentGVK, deploymentOf("7"), deploymentOf("7"))
	foreign := deploymentOf("1")
	foreign.Labels[v1alpha1.LabelInstanceKind] = "Other"
	c.routeChildChange(deploymentGVK, foreign, 0)
	unlabelled := deploymentOf("1")
	unlabelled.Labels = nil
	c.routeChild(unlabelled, 0)

	assert.Zero(t, q.Len())
}

// webAppGraph compiles a WebApp whose Deployment is ready when its
// available replicas reach the spec's.
func webAppGraph(t testing.TB) *graph.Graph {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.Unmarshal([]byte(`
metadata: {name: webapps}
spec:
  schema:
    apiVersion: v1alpha1
    kind: WebApp
    status:
      available: ${deployment.status.availableReplicas}
  resources:
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}
        annotations: {team: web}
      spec:
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec:
            containers: [{name: c, image: nginx}]
    readyWhen:
    - ${deployment.status.availableReplicas == deployment.spec.replicas}
`), rgd))
	static, err := resolver.NewStatic()
	require.NoError(t, err)
	g, errs := graph.Compile(rgd, static, graph.DefaultOptions())
	require.Empty(t, errs)
	return g
}

func TestChildStatusUpdatesNoExpressionReadsDoNotReconcile(t *testing.T) {
	c, q := routing(t, 0)
	c.kinds[schema.GroupKind{Group: "kro.run", Kind: "WebApp"}].graph.Store(webAppGraph(t))
	at := func(rv string, mutate func(d *appsv1.Deployment)) *appsv1.Deployment {
		d := deploymentOf(rv)
		d.Labels[v1alpha1.LabelNodeID] = "deployment"
		d.Spec.Replicas = ptr.To[int32](1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UnavailableReplicas: 1}
		if mutate != nil {
			mutate(d)
		}
		return d
	}
	routed := func() bool {
		if q.Len() == 0 {
			return false
		}
		got, _ := q.Get()
		q.Done(got)
		q.Forget(got)
		return true
	}

	// Built-in kinds are cached typed, custom resources unstructured.
	forms := map[string]func(d *appsv1.Deployment) any{
		"typed": func(d *appsv1.Deployment) any { return d },
		"unstructured": func(d *appsv1.Deployment) any {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
			require.NoError(t, err)
			return &unstructured.Unstructured{Object: m}
		},
	}
	for form, as := range forms {
		c.routeChildUpdate(deploymentGVK, as(at("1", nil)), as(at("2", func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 })))
		assert.False(t, routed(), "%s: a status change no expression reads reconciled the instance", form)
		c.routeChildUpdate(deploymentGVK, as(at("1", nil)), as(at("2", func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
			d.Status.ObservedGeneration = 2
		})))
		assert.False(t, routed(), "%s: an annotation korvid does not set, no expression reads, reconciled the instance", form)

		for name, mutate := range map[string]func(d *appsv1.Deployment){
			"a status field readyWhen and the status read": func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 },
			"the spec (drift)":                func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) },
			"a label":                         func(d *appsv1.Deployment) { d.Labels["team"] = "b" },
			"the deletion":                    func(d *appsv1.Deployment) { d.DeletionTimestamp = &metav1.Time{Time: time.Now()} },
			"an annotation the template sets": func(d *appsv1.Deployment) { d.Annotations = map[string]string{"team": "ops"} },
			"an annotation of korvid's":       func(d *appsv1.Deployment) { d.Annotations = map[string]string{AnnotationAppliedHash: "x"} },
		} {
			c.routeChildUpdate(deploymentGVK, as(at("1", nil)), as(at("2", mutate)))
			assert.True(t, routed(), "%s: a change of %s did not reconcile the instance", form, name)
		}
	}
}

// BenchmarkUnreadChange measures the check every update of a child
// goes through, for a typed Deployment: a status change no expression
// reads (the whole check) and one readyWhen reads (answered when the read
// fields differ, without comparing the rest).
func BenchmarkUnreadChange(b *testing.B) {
	c, _ := routing(b, 0)
	k := c.kinds[schema.GroupKind{Group: "kro.run", Kind: "WebApp"}]
	k.graph.Store(webAppGraph(b))
	old := deploymentOf("1")
	old.Labels[v1alpha1.LabelNodeID] = "deployment"
	old.Spec.Template.Spec.Containers = []corev1.Container{{Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
	for name, c := range map[string]struct {
		mutate func(*appsv1.Deployment)
		unread bool
	}{
		"unread":   {func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, true},
		"readable": {func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false},
	} {
		b.Run(name, func(b *testing.B) {
			updated := old.DeepCopy()
			updated.ResourceVersion = "2"
			c.mutate(updated)
			b.ReportAllocs()
			for b.Loop() {
				if k.unreadChange(old, updated) != c.unread {
					b.Fatalf("unreadChange is not %v", c.unread)
				}
			}
		})
	}
}
