package envtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// KorvidWebhooks reads korvid's webhook configurations (the controller-gen
// output and the instance shells of deploy/kustomize/webhook) for
// crenvtest.WebhookInstallOptions, which points them at a webhook server in
// the test process over TLS with envtest's CA.
func KorvidWebhooks() ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mut []*admissionregistrationv1.MutatingWebhookConfiguration
	var val []*admissionregistrationv1.ValidatingWebhookConfiguration
	dir := filepath.Join(RepoRoot(), "deploy", "kustomize", "webhook")
	for _, f := range []string{"manifests.yaml", "instance-webhooks.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			var u unstructured.Unstructured
			if err := yaml.Unmarshal(doc, &u.Object); err != nil || u.Object == nil {
				continue
			}
			// envtest joins host and path with a slash of its own.
			trim := func(cc *admissionregistrationv1.WebhookClientConfig) {
				if cc.Service != nil && cc.Service.Path != nil {
					p := strings.TrimPrefix(*cc.Service.Path, "/")
					cc.Service.Path = &p
				}
			}
			switch u.GetKind() {
			case "MutatingWebhookConfiguration":
				c := &admissionregistrationv1.MutatingWebhookConfiguration{}
				if err := yaml.Unmarshal(doc, c); err != nil {
					return nil, nil, err
				}
				for i := range c.Webhooks {
					trim(&c.Webhooks[i].ClientConfig)
				}
				mut = append(mut, c)
			case "ValidatingWebhookConfiguration":
				c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
				if err := yaml.Unmarshal(doc, c); err != nil {
					return nil, nil, err
				}
				for i := range c.Webhooks {
					trim(&c.Webhooks[i].ClientConfig)
				}
				val = append(val, c)
			}
		}
	}
	if len(mut) != 2 || len(val) != 2 {
		return nil, nil, fmt.Errorf("want 2 mutating and 2 validating webhook configurations in %s, found %d and %d", dir, len(mut), len(val))
	}
	return mut, val, nil
}
