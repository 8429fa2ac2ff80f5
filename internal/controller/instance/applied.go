package instance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/korvid/korvid/api/v1alpha1"
)

// AnnotationAppliedHash records, on every child, the hash of the object
// korvid last applied to it. A child whose rendered object hashes the same
// and whose fields korvid sets still hold their values is not applied again:
// the annotation survives restarts, so a restarted controller writes nothing
// for instances whose inputs did not change.
const AnnotationAppliedHash = v1alpha1.InternalLabelPrefix + "applied-hash"

// desiredHash hashes a rendered object (without its applied-hash annotation
// and UID precondition): equal hashes mean an apply would send the same
// fields with the same values.
func desiredHash(obj *unstructured.Unstructured) string {
	b, err := json.Marshal(obj.Object) // map keys are sorted: the encoding is canonical
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// appliedRecord is what this process last applied to (or verified on) a
// child: its UID, the resourceVersion the API server answered with, the
// hash of the applied object and, until the children cache has caught up
// with it, the object the apply returned.
type appliedRecord struct {
	uid  types.UID
	rv   string
	hash string
	obj  *unstructured.Unstructured
	at   time.Time
}

// appliedRecords holds the appliedRecord of every child of one kind's
// instances, by object key, and the children whose apply is on the wire.
type appliedRecords struct {
	m sync.Map

	mu sync.Mutex
	// inFlight holds, for each child being applied, the events of it the
	// children cache delivered meanwhile. The watch often delivers an
	// apply's own write before the apply's response is read: an event held
	// here until then is dropped when it is that write (or older), instead
	// of waking the instance whose pass already has the object.
	inFlight map[objectKey][]heldEvent
}

// heldEvent is a child's creation or update that arrived while korvid's
// apply of the child was in flight, and how long its routing was to wait.
type heldEvent struct {
	obj   metav1.Object
	after time.Duration
}

func (a *appliedRecords) get(k objectKey) *appliedRecord {
	if v, ok := a.m.Load(k); ok {
		return v.(*appliedRecord)
	}
	return nil
}

func (a *appliedRecords) put(k objectKey, r *appliedRecord) { a.m.Store(k, r) }
func (a *appliedRecords) forget(k objectKey)                { a.m.Delete(k) }

// begin marks k's apply as in flight. The caller holds k's key lock, so
// applies of one child do not overlap.
func (a *appliedRecords) begin(k objectKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inFlight == nil {
		a.inFlight = map[objectKey][]heldEvent{}
	}
	a.inFlight[k] = nil
}

// hold keeps an event of k while its apply is in flight, and reports
// whether it did.
func (a *appliedRecords) hold(k objectKey, obj metav1.Object, after time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, ok := a.inFlight[k]
	if ok {
		a.inFlight[k] = append(held, heldEvent{obj: obj, after: after})
	}
	return ok
}

// end closes k's in-flight apply, which recorded rec (nil when it failed),
// and returns the events held meanwhile that still need routing: those of
// another incarnation of the object, newer than the apply's answer, or held
// during a failed apply. The record is put before end is called, so no
// event falls between the two checks.
func (a *appliedRecords) end(k objectKey, rec *appliedRecord) []heldEvent {
	a.mu.Lock()
	held := a.inFlight[k]
	delete(a.inFlight, k)
	a.mu.Unlock()
	out := held[:0]
	for _, e := range held {
		seen := rec != nil && e.obj.GetUID() == rec.uid &&
			(e.obj.GetResourceVersion() == rec.rv || olderRV(e.obj.GetResourceVersion(), rec.rv))
		if !seen {
			out = append(out, e)
		}
	}
	return out
}

// olderRV reports whether resourceVersion a is older than b. Resource
// versions are opaque, but the API server's are etcd revisions; anything
// that does not parse as one is treated as not older.
func olderRV(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

// holds reports whether every field set in want has the same value in have:
// maps are compared key by key (have may hold more keys: defaults and fields
// of other managers), lists item by item with equal lengths, numbers by
// value. It decides whether fields korvid applied were changed by someone
// else (drift), which an apply would revert.
func holds(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok {
				if wv == nil {
					continue
				}
				if m, isMap := wv.(map[string]any); isMap && len(m) == 0 {
					continue
				}
				return false
			}
			if !holds(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		if len(w) != len(h) {
			return false
		}
		for i := range w {
			if !holds(w[i], h[i]) {
				return false
			}
		}
		return true
	case nil:
		return have == nil
	}
	if wf, ok := number(want); ok {
		hf, ok := number(have)
		return ok && wf == hf
	}
	return reflect.DeepEqual(want, have)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// desiredHolds reports whether the live object carries every field of the
// rendered one (metadata: labels and annotations; everything else but
// status).
func desiredHolds(desired, live *unstructured.Unstructured) bool {
	for k, v := range desired.Object {
		switch k {
		case "status":
			continue
		case "metadata":
			dm, _ := v.(map[string]any)
			lm, _ := live.Object["metadata"].(map[string]any)
			for _, f := range []string{"labels", "annotations"} {
				if w, ok := dm[f]; ok && !holds(w, lm[f]) {
					return false
				}
			}
			continue
		}
		if !holds(v, live.Object[k]) {
			return false
		}
	}
	return true
}

// sweep drops the applied objects kept for a lagging cache once they are
// old: the cache has caught up long since.
func (a *appliedRecords) sweep(now time.Time) {
	a.m.Range(func(k, v any) bool {
		if r := v.(*appliedRecord); r.obj != nil && now.Sub(r.at) > writtenTTL {
			a.m.Store(k, &appliedRecord{uid: r.uid, rv: r.rv, hash: r.hash})
		}
		return true
	})
}
