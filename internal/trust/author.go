package trust

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
)

// AnnotationAuthor records who wrote an RGD's spec, signed by the webhook.
// The controller runs its access review against this author: an RGD lets
// korvid do on its author's behalf only what the author may do, and the
// controller re-checks that even when the webhook was bypassed. A record the
// controller cannot verify (missing, forged, or for another spec) makes the
// RGD inactive.
const AnnotationAuthor = v1alpha1.InternalLabelPrefix + "author"

// SigningKeyBytes is the length of a generated signing key.
const SigningKeyBytes = 32

// signingKeyField is the Secret key holding the signing key.
const signingKeyField = "key"

// ErrNoAuthor is returned by Verify for an RGD without an author record.
var ErrNoAuthor = errors.New("no author record")

// ErrNoSigningKey is returned while the signing key is not loaded yet.
var ErrNoSigningKey = errors.New("the signing key of author records is not loaded yet")

// Signer signs and verifies author records with a key the webhook and the
// controller share (a Secret in korvid's namespace). The key may be set
// after the Signer is wired (the webhook loads it while warming up).
type Signer struct {
	key atomic.Pointer[[]byte]
}

// NewSigner returns a Signer with the key, which may be nil (see SetKey).
func NewSigner(key []byte) *Signer {
	s := &Signer{}
	if key != nil {
		s.SetKey(key)
	}
	return s
}

// SetKey sets the signing key.
func (s *Signer) SetKey(key []byte) {
	k := append([]byte(nil), key...)
	s.key.Store(&k)
}

// record is the signed content of an author record.
type record struct {
	User authenticationv1.UserInfo `json:"user"`
	// Spec is the hash of the signed spec: a record cannot be copied to
	// another spec (or another RGD with a different spec).
	Spec string `json:"spec"`
}

// Sign returns the annotation value recording user as the author of rgd's spec.
func (s *Signer) Sign(user authenticationv1.UserInfo, rgd *v1alpha1.ResourceGraphDefinition) (string, error) {
	h, err := SpecHash(rgd)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(record{User: user, Spec: h})
	if err != nil {
		return "", fmt.Errorf("encoding the author record: %w", err)
	}
	mac, err := s.mac(payload)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac), nil
}

// Verify returns the author recorded on rgd when the record is signed with
// the shared key and was made for rgd's current spec.
func (s *Signer) Verify(rgd *v1alpha1.ResourceGraphDefinition) (authenticationv1.UserInfo, error) {
	v, ok := rgd.Annotations[AnnotationAuthor]
	if !ok {
		return authenticationv1.UserInfo{}, ErrNoAuthor
	}
	enc, sig, ok := strings.Cut(v, ".")
	if !ok {
		return authenticationv1.UserInfo{}, errors.New("the author record is malformed")
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return authenticationv1.UserInfo{}, errors.New("the author record is malformed")
	}
	want, err := s.mac(payload)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	if !hmac.Equal(mac, want) {
		return authenticationv1.UserInfo{}, errors.New("the author record is not signed by korvid's webhook")
	}
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("decoding the author record: %w", err)
	}
	h, err := SpecHash(rgd)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	if r.Spec != h {
		return authenticationv1.UserInfo{}, errors.New("the author record was made for another version of the spec")
	}
	return r.User, nil
}

func (s *Signer) mac(payload []byte) ([]byte, error) {
	k := s.key.Load()
	if k == nil {
		return nil, ErrNoSigningKey
	}
	m := hmac.New(sha256.New, *k)
	m.Write([]byte("korvid author record v1\x00"))
	m.Write(payload)
	return m.Sum(nil), nil
}

// SpecHash is a hash of the RGD's spec that does not depend on how it was
// serialized (key order, spacing of embedded templates).
func SpecHash(rgd *v1alpha1.ResourceGraphDefinition) (string, error) {
	b, err := json.Marshal(rgd.Spec)
	if err != nil {
		return "", fmt.Errorf("encoding the spec: %w", err)
	}
	var canonical any
	if err := json.Unmarshal(b, &canonical); err != nil {
		return "", fmt.Errorf("decoding the spec: %w", err)
	}
	if b, err = json.Marshal(canonical); err != nil {
		return "", fmt.Errorf("encoding the spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// EnsureSigningKey returns the signing key stored in the Secret, creating
// the Secret with a random key when it does not exist. The controller calls
// it at start; the webhook only reads (LoadSigningKey).
func EnsureSigningKey(ctx context.Context, c client.Client, key types.NamespacedName) ([]byte, error) {
	k, err := LoadSigningKey(ctx, c, key)
	if err == nil || !apierrors.IsNotFound(err) {
		return k, err
	}
	b := make([]byte, SigningKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating the signing key: %w", err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/part-of": "korvid"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{signingKeyField: b},
	}
	if err := c.Create(ctx, sec); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return LoadSigningKey(ctx, c, key)
		}
		return nil, fmt.Errorf("creating the signing key Secret %s: %w", key, err)
	}
	return b, nil
}

// LoadSigningKey reads the signing key from the Secret.
func LoadSigningKey(ctx context.Context, c client.Reader, key types.NamespacedName) ([]byte, error) {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, key, sec); err != nil {
		return nil, fmt.Errorf("reading the signing key Secret %s: %w", key, err)
	}
	k := sec.Data[signingKeyField]
	if len(k) < 16 {
		return nil, fmt.Errorf("the signing key Secret %s has no %q of at least 16 bytes", key, signingKeyField)
	}
	return k, nil
}
