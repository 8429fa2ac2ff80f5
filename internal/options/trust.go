package options

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Trust holds the trust-boundary options. The webhook and the controller
// take the same flags and must be given the same values: the controller
// re-checks everything the webhook checks.
type Trust struct {
	// AccessReview checks, with SubjectAccessReviews, that an RGD's author
	// may do everything the RGD makes korvid do.
	AccessReview bool
	// PolicyFile lists forbidden kinds and the meta-kinds RGDs may template.
	PolicyFile string
	// SigningKeySecret (namespace/name) holds the key the webhook signs the
	// author record of an RGD with and the controller verifies it with. The
	// controller creates it when missing.
	SigningKeySecret string
	// ControllerUsername is the controller's user name as the API server
	// sees it; the webhook leaves the author records of its writes alone.
	ControllerUsername string
}

// NewTrust returns the defaults of an installation in korvid-system.
func NewTrust() *Trust {
	return &Trust{
		AccessReview:       true,
		SigningKeySecret:   "korvid-system/korvid-author-signing-key",
		ControllerUsername: "system:serviceaccount:korvid-system:korvid-controller",
	}
}

// AddFlags registers the options.
func (o *Trust) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.AccessReview, "access-review", o.AccessReview,
		"Refuse an RGD whose author may not do everything it makes korvid do: write and read every templated kind, escalate or bind templated RBAC, read every externalRef (SubjectAccessReview).")
	fs.StringVar(&o.PolicyFile, "policy-file", o.PolicyFile, "YAML file listing kinds RGDs may not use and the meta-kinds they may template.")
	fs.StringVar(&o.SigningKeySecret, "signing-key-secret", o.SigningKeySecret,
		"Secret (namespace/name) with the key that signs the author records of RGDs; the controller creates it when missing.")
	fs.StringVar(&o.ControllerUsername, "controller-username", o.ControllerUsername, "User name of the korvid controller as the API server authenticates it.")
}

// Validate checks the options.
func (o *Trust) Validate() error {
	var errs []error
	if o.PolicyFile != "" {
		if _, err := os.Stat(o.PolicyFile); err != nil {
			errs = append(errs, fmt.Errorf("--policy-file: %w", err))
		}
	}
	if o.AccessReview {
		if _, err := o.SigningKey(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SigningKey returns the Secret named by --signing-key-secret.
func (o *Trust) SigningKey() (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(o.SigningKeySecret, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return types.NamespacedName{}, fmt.Errorf("--signing-key-secret must be namespace/name, found %q", o.SigningKeySecret)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}
