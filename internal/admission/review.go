package admission

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"
)

// maxReviewSize is controller-runtime's limit on an AdmissionReview.
const maxReviewSize = 7 << 20

// reviewServer serves a webhook's AdmissionReviews: a v1 review is decoded
// with one JSON pass into the typed struct, where controller-runtime's
// handler goes through the scheme's universal deserializer (content
// sniffing, a second decode of the type metadata, a codec per request).
// Anything else (another version, a body that does not decode, no request)
// goes to the controller-runtime handler as it came, which answers it as
// before.
type reviewServer struct {
	wh *admission.Webhook
}

// quietLog is the webhook's per-request logger: the base logger, without
// the request's identity attached to every request (the default builds a
// logger with six values per request, for V(5) messages that are never
// written). A handler's panic is recovered and logged by admission.Webhook.
func quietLog(base logr.Logger, _ *admission.Request) logr.Logger { return base }

func newReviewServer(h admission.Handler) *reviewServer {
	return &reviewServer{wh: &admission.Webhook{Handler: h, LogConstructor: quietLog}}
}

func (s *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Content-Type") != "application/json" {
		s.wh.ServeHTTP(w, r)
		return
	}
	body, err := readBody(r)
	var review admissionv1.AdmissionReview
	if err != nil || len(body) > maxReviewSize || kjson.UnmarshalCaseSensitivePreserveInts(body, &review) != nil ||
		review.Request == nil || review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		// The body as it came: what was read, then the rest.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		s.wh.ServeHTTP(w, r)
		return
	}
	resp := s.wh.Handle(r.Context(), admission.Request{AdmissionRequest: *review.Request})
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: &resp.AdmissionResponse})
	if err != nil {
		http.Error(w, "encoding the AdmissionReview: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// readBody reads at most maxReviewSize+1 bytes of the request's body, into
// a buffer of the announced length when there is one (the API server sends
// it), instead of growing one step by step.
func readBody(r *http.Request) ([]byte, error) {
	limited := io.LimitReader(r.Body, maxReviewSize+1)
	if r.ContentLength <= 0 || r.ContentLength > maxReviewSize {
		return io.ReadAll(limited)
	}
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+bytes.MinRead))
	_, err := buf.ReadFrom(limited)
	return buf.Bytes(), err
}
