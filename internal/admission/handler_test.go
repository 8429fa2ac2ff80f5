package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/registry"
)

// serve posts body to a webhook built around h, as setup serves it, and
// decodes the answer.
func serve(t *testing.T, h admission.Handler, body []byte) (int, *admissionv1.AdmissionReview) {
	t.Helper()
	wh := newReviewServer(h)
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	review := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(rec.Body.Bytes(), review); err != nil {
		return rec.Code, nil
	}
	return rec.Code, review
}

func TestGarbageAdmissionReviewsGetACleanError(t *testing.T) {
	reg := registry.New(nil, graph.DefaultOptions(), nil, nil)
	handlers := map[string]admission.Handler{
		"instance validation": guard(nil, "", time.Second, &InstanceValidator{Registry: reg}),
		"instance defaulting": guard(nil, "", time.Second, &InstanceDefaulter{Registry: reg}),
	}
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(rand.IntN(256))
	}
	review := func(req string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":` + req + `}`)
	}
	bodies := map[string][]byte{
		"empty":            nil,
		"truncated":        []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionRev`),
		"null":             []byte(`null`),
		"random bytes":     junk,
		"deep nesting":     []byte(strings.Repeat("[", 100000)),
		"no request":       []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		"object not json":  review(`{"uid":"1","kind":{"group":"kro.run","version":"v1alpha1","kind":"X"},"operation":"CREATE","object":"garbage"}`),
		"object is a list": review(`{"uid":"2","kind":{"group":"kro.run","version":"v1alpha1","kind":"X"},"operation":"UPDATE","object":[1,2],"oldObject":{}}`),
		"no kind":          review(`{"uid":"3","operation":"CREATE","object":{"spec":{}}}`),
	}
	for hname, h := range handlers {
		for bname, body := range bodies {
			t.Run(hname+"/"+bname, func(t *testing.T) {
				var code int
				var got *admissionv1.AdmissionReview
				require.NotPanics(t, func() { code, got = serve(t, h, body) })
				require.Less(t, code, 500, "the webhook server answers; an error goes into the review")
				require.NotNil(t, got, "the answer is an AdmissionReview")
				require.NotNil(t, got.Response)
				if got.Response.Allowed {
					return // nothing to check: e.g. a kind no RGD serves
				}
				require.NotNil(t, got.Response.Result)
				assert.GreaterOrEqual(t, got.Response.Result.Code, int32(400))
				assert.NotEmpty(t, got.Response.Result.Message)
			})
		}
	}
}

func TestPanickingHandlerIsAnInternalError(t *testing.T) {
	h := guard(nil, "Thing", time.Second, admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		panic(errors.New("handler bug"))
	}))
	code, got := serve(t, h, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","name":"x","operation":"CREATE","object":{}}}`))
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, got)
	require.NotNil(t, got.Response)
	assert.False(t, got.Response.Allowed)
	require.NotNil(t, got.Response.Result)
	assert.Equal(t, int32(http.StatusInternalServerError), got.Response.Result.Code, "a panic is a retryable server error, not a denial")
	assert.Contains(t, got.Response.Result.Message, "handler bug", "controller-runtime's admission.Webhook recovers the panic and says what it was")

	// The server keeps answering after the panic.
	code, got = serve(t, h, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"2","name":"y","operation":"CREATE","object":{}}}`))
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, got)
	assert.Equal(t, "2", string(got.Response.UID))
}

func TestBoundedHonoursTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := bounded(ctx, func() int { time.Sleep(2 * time.Second); return 1 })
	require.Error(t, err)
	assert.True(t, errors.Is(err, errTimeout))
	assert.Less(t, time.Since(start), time.Second, "the caller is answered at the deadline, not when the work ends")

	_, err = bounded(context.Background(), func() int { panic("compiler bug") })
	require.ErrorContains(t, err, "compiler bug", "a panic in bounded work is an error, not a crash")
}

// The review server answers v1 reviews itself and everything else as
// controller-runtime's handler does.
func TestReviewServer(t *testing.T) {
	h := newReviewServer(admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		return admission.Denied("seen " + req.Name)
	}))
	post := func(body, contentType string) (int, *admissionv1.AdmissionReview) {
		req := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		review := &admissionv1.AdmissionReview{}
		if json.Unmarshal(rec.Body.Bytes(), review) != nil {
			return rec.Code, nil
		}
		return rec.Code, review
	}
	for _, version := range []string{"v1", "v1beta1"} {
		code, got := post(`{"apiVersion":"admission.k8s.io/`+version+`","kind":"AdmissionReview","request":{"uid":"u1","name":"x","operation":"CREATE","object":{"a":1}}}`, "application/json")
		require.Equal(t, http.StatusOK, code)
		require.NotNil(t, got)
		assert.Equal(t, "admission.k8s.io/"+version, got.APIVersion, "the answer has the request's version")
		assert.Equal(t, "AdmissionReview", got.Kind)
		require.NotNil(t, got.Response)
		assert.Equal(t, "u1", string(got.Response.UID))
		assert.False(t, got.Response.Allowed)
		assert.Equal(t, "seen x", got.Response.Result.Message)
	}
	code, got := post(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1"}}`, "text/plain")
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, got)
	assert.Contains(t, got.Response.Result.Message, "contentType=text/plain", "controller-runtime's answer")
	code, got = post(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionRev`, "application/json")
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, got)
	assert.EqualValues(t, http.StatusBadRequest, got.Response.Result.Code, "a body that does not decode goes to controller-runtime, whole")

	review := func(object string) string {
		return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u2","name":"big","operation":"CREATE","object":{"a":"` + object + `"}}}`
	}
	// The body is read whole whether or not its length is announced.
	for _, announced := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(review(strings.Repeat("x", 100_000))))
		req.Header.Set("Content-Type", "application/json")
		if !announced {
			req.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := &admissionv1.AdmissionReview{}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), got))
		require.NotNil(t, got.Response)
		assert.Equal(t, "seen big", got.Response.Result.Message, "Content-Length announced: %v", announced)
	}
	code, got = post(review(strings.Repeat("x", maxReviewSize)), "application/json")
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, got)
	assert.EqualValues(t, http.StatusRequestEntityTooLarge, got.Response.Result.Code, "a review over the size limit is refused unread")
}
