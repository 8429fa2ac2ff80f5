package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/examples"
	"github.com/korvid/korvid/test/rgdtest"
)

// writes counts the write requests (POST, PUT, PATCH, DELETE) the suite's
// manager sends, by namespace, as its client's transport sees them, and its
// reads of single objects (GET of a named object).
var writes = &writeCounter{byNamespace: map[string][]string{}, readsByNamespace: map[string][]string{}}

type writeCounter struct {
	mu               sync.Mutex
	byNamespace      map[string][]string
	readsByNamespace map[string][]string
}

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		ns, named := namespaceOf(req.URL.Path)
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if ns != "" {
				w.mu.Lock()
				w.byNamespace[ns] = append(w.byNamespace[ns], req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
		case http.MethodGet:
			if named {
				w.mu.Lock()
				w.readsByNamespace[ns] = append(w.readsByNamespace[ns], req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
		}
		return rt.RoundTrip(req)
	})
}

// in returns the writes to namespace ns.
func (w *writeCounter) in(ns string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.byNamespace[ns]...)
}

// readsIn returns the reads of single objects in namespace ns.
func (w *writeCounter) readsIn(ns string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.readsByNamespace[ns]...)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// namespaceOf returns the namespace of a namespaced path
// (.../namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]]) and whether the path
// names one object rather than a collection; "" for any other path.
func namespaceOf(path string) (ns string, named bool) {
	parts := strings.Split(path, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "namespaces" && i+2 < len(parts) {
			return parts[i+1], len(parts)-(i+2) >= 2
		}
	}
	return "", false
}

// split separates event writes from the others.
func split(ws []string) (objects, events []string) {
	for _, w := range ws {
		if strings.HasSuffix(w, "/events") || strings.Contains(w, "/events/") {
			events = append(events, w)
		} else {
			objects = append(objects, w)
		}
	}
	return objects, events
}

// Write budgets of the BenchApp-like instance below, from creation to
// ACTIVE: the instance's metadata (finalizer, ApplySet annotations), one
// apply per child and two status writes (IN_PROGRESS, then ACTIVE); and
// one event, for reaching ACTIVE (a new instance's first state is none).
const (
	maxObjectWritesToActive = 6
	maxEventWritesToActive  = 1
)

// TestWritesPerInstance counts the requests the controller's own client
// sends: creation to ACTIVE stays within its budget, a reconcile whose
// inputs did not change writes nothing, and drift costs one apply.
func TestWritesPerInstance(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGD(t, c, examples.BenchAppRGD)
	waitActive(t, c, "benchapps")
	ns := namespace(t, c, "writes")
	gvk := kindGVK("BenchApp")
	reconciles := func() float64 {
		return metricValue(t, "controller_runtime_reconcile_time_seconds", map[string]string{"controller": "instance-BenchApp." + gvk.Group})
	}
	// quiet waits until the controller has reconciled at least once more
	// than `after` and then written nothing to ns for a while.
	quiet := func(after float64) []string {
		t.Helper()
		require.Eventually(t, func() bool { return reconciles() > after }, timeout, tick, "no reconcile happened")
		last, stable := len(writes.in(ns)), 0
		for stable < 20 {
			time.Sleep(100 * time.Millisecond)
			if n := len(writes.in(ns)); n != last {
				last, stable = n, 0
				continue
			}
			stable++
		}
		return writes.in(ns)
	}

	createInstance(t, c, "BenchApp", ns, "app", map[string]any{})
	dep := eventuallyGet(t, c, deploymentGVK, ns, "app")
	waitState(t, c, gvk, ns, "app", v1alpha1.InstanceStateInProgress)
	// The deployment becomes available (envtest runs no deployment controller).
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "availableReplicas"))
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "replicas"))
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "readyReplicas"))
	require.NoError(t, c.Status().Update(ctx, dep))
	waitState(t, c, gvk, ns, "app", v1alpha1.InstanceStateActive)
	all := quiet(0)
	objects, events := split(all)
	t.Logf("creation to ACTIVE: %d writes of objects, %d of events:\n%s", len(objects), len(events), strings.Join(all, "\n"))
	assert.LessOrEqual(t, len(objects), maxObjectWritesToActive, "writes of objects from creation to ACTIVE")
	assert.LessOrEqual(t, len(events), maxEventWritesToActive, "event writes from creation to ACTIVE")
	applies := 0
	for _, w := range objects {
		if strings.HasPrefix(w, "PATCH ") && !strings.Contains(w, "/benchapps/") {
			applies++
		}
	}
	assert.Equal(t, 3, applies, "one apply per child")
	// New children are created without reading them first: the create
	// itself fails, writing nothing, if an object of the name exists.
	assert.Empty(t, writes.readsIn(ns), "reads of single objects from creation to ACTIVE")

	noWrites := func(t *testing.T, what string, change func()) {
		t.Helper()
		before, n := len(writes.in(ns)), reconciles()
		change()
		after := quiet(n)[before:]
		assert.Empty(t, after, "%s: a reconcile whose inputs did not change must write nothing", what)
	}
	t.Run("a child's status change no expression reads does not reconcile", func(t *testing.T) {
		before, n := len(writes.in(ns)), reconciles()
		d := mustGet(t, c, deploymentGVK, ns, "app")
		require.NoError(t, unstructured.SetNestedField(d.Object, int64(7), "status", "observedGeneration"))
		require.NoError(t, c.Status().Update(ctx, d))
		// Routed, the update would reconcile after its 250 ms settle window.
		time.Sleep(time.Second)
		assert.Equal(t, n, reconciles(), "reconciles after a status change no expression reads")
		assert.Len(t, writes.in(ns), before)
	})
	t.Run("a reconcile with unchanged inputs writes nothing", func(t *testing.T) {
		noWrites(t, "instance annotation", func() {
			u := mustGet(t, c, gvk, ns, "app")
			a := u.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a["example.com/touched"] = fmt.Sprint(time.Now().UnixNano())
			u.SetAnnotations(a)
			require.NoError(t, c.Update(ctx, u))
		})
		noWrites(t, "label of another manager on a child", func() {
			s := mustGet(t, c, serviceGVK, ns, "app")
			l := s.GetLabels()
			l["team"] = "payments"
			s.SetLabels(l)
			require.NoError(t, c.Update(ctx, s))
		})
	})

	t.Run("drift is corrected with one apply of the drifted child", func(t *testing.T) {
		before, n := len(writes.in(ns)), reconciles()
		d := mustGet(t, c, deploymentGVK, ns, "app")
		require.NoError(t, unstructured.SetNestedField(d.Object, int64(5), "spec", "replicas"))
		require.NoError(t, c.Update(ctx, d))
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			r, _, _ := unstructured.NestedInt64(mustGet(collect, c, deploymentGVK, ns, "app").Object, "spec", "replicas")
			assert.Equal(collect, int64(1), r)
		}, timeout, tick, "edited replicas were not reverted")
		after := quiet(n)[before:]
		objects, _ := split(after)
		var deployments []string
		for _, w := range objects {
			if strings.Contains(w, "/deployments/") {
				deployments = append(deployments, w)
			}
		}
		sort.Strings(deployments)
		assert.Equal(t, []string{"PATCH /apis/apps/v1/namespaces/" + ns + "/deployments/app"}, deployments, "all writes: %v", after)
	})

	t.Run("an input change applies only what it changes", func(t *testing.T) {
		before, n := len(writes.in(ns)), reconciles()
		patchSpec(t, c, "BenchApp", ns, "app", map[string]any{"port": int64(9090)})
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			cm := mustGet(collect, c, configMapGVK, ns, "app-config")
			v, _, _ := unstructured.NestedString(cm.Object, "data", "PORT")
			assert.Equal(collect, "9090", v)
		}, timeout, tick)
		after := quiet(n)[before:]
		objects, _ := split(after)
		for _, w := range objects {
			assert.NotContains(t, w, "/services/", "the service does not depend on the port: %v", after)
		}
	})
	require.NoError(t, c.Delete(ctx, mustGet(t, c, gvk, ns, "app"), client.PropagationPolicy("Background")))
	eventuallyGone(t, c, gvk, ns, "app")
}

// TestDuplicateObjectIsAnError: two resources of one instance rendering the
// same object (computed names) is an error naming both; the object stays
// the first resource's and the second is never applied over it.
func TestDuplicateObjectIsAnError(t *testing.T) {
	c := start(t)
	createRGDObject(t, c, rgdtest.New("duplicates", "Duplicate").
		Spec("a", "string | required=true").Spec("b", "string | required=true").
		ConfigMap("first", "${schema.spec.a}", map[string]any{"from": "first"}).
		ConfigMap("second", "${schema.spec.b}", map[string]any{"from": "second"}).
		Build())
	waitActive(t, c, "duplicates")
	ns := namespace(t, c, "duplicates")
	gvk := kindGVK("Duplicate")
	createInstance(t, c, "Duplicate", ns, "dup", map[string]any{"a": "same", "b": "same"})
	u := waitState(t, c, gvk, ns, "dup", v1alpha1.InstanceStateError)
	rr := condition(u, v1alpha1.ConditionResourcesReady)
	require.NotNil(t, rr)
	assert.Equal(t, "False", rr["status"])
	assert.Contains(t, rr["message"], "resources first and second both render ConfigMap "+ns+"/same")
	for range 3 {
		cm := mustGet(t, c, configMapGVK, ns, "same")
		assert.Equal(t, "first", cm.Object["data"].(map[string]any)["from"], "the second resource was applied over the first")
		assert.Equal(t, "first", cm.GetLabels()[v1alpha1.LabelNodeID])
		time.Sleep(time.Second)
	}

	patchSpec(t, c, "Duplicate", ns, "dup", map[string]any{"b": "other"})
	waitState(t, c, gvk, ns, "dup", v1alpha1.InstanceStateActive)
	assert.Equal(t, "second", mustGet(t, c, configMapGVK, ns, "other").Object["data"].(map[string]any)["from"])
	assert.Equal(t, "first", mustGet(t, c, configMapGVK, ns, "same").Object["data"].(map[string]any)["from"])
}
