package localcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	korvidscheme "github.com/korvid/korvid/internal/scheme"
	"github.com/korvid/korvid/internal/trust"
)

// FieldOwner is the server-side apply field manager of everything the local
// cluster and the end-to-end test install.
const FieldOwner = "korvid-install"

// scheme knows the built-in kinds, CRDs and korvid's API.
var scheme = korvidscheme.New()

// Render builds the kustomization in dir the way `kubectl kustomize` does
// and returns its objects in output order.
func Render(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, resMap.Size())
	for _, r := range resMap.Resources() {
		// Through JSON, so numbers are int64 as in objects read from the API.
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %s: %w", dir, r.CurId(), err)
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("rendering %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// YAML joins objects into one multi-document YAML stream.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var out []byte
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("marshalling %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
	}
	return out, nil
}

// Apply server-side applies objects in order with FieldOwner, forcing
// conflicts.
func Apply(ctx context.Context, c client.Client, objs ...*unstructured.Unstructured) error {
	for _, o := range objs {
		o = o.DeepCopy()
		o.SetManagedFields(nil)
		o.SetResourceVersion("")
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // unstructured objects have no apply configuration type
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), client.ObjectKeyFromObject(o), err)
		}
	}
	return nil
}

// WaitEstablished waits until every CRD among objs is established.
func WaitEstablished(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, timeout time.Duration) error {
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: o.GetName()}, &crd); err != nil {
				return false, nil //nolint:nilerr // retried until the timeout
			}
			return apihelpers.IsCRDConditionTrue(&crd, apiextensionsv1.Established), nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", o.GetName(), err)
		}
	}
	return nil
}

// IsWebhookConfiguration reports whether o is a validating or mutating
// webhook configuration.
func IsWebhookConfiguration(o *unstructured.Unstructured) bool {
	return o.GetAPIVersion() == "admissionregistration.k8s.io/v1" &&
		(o.GetKind() == "ValidatingWebhookConfiguration" || o.GetKind() == "MutatingWebhookConfiguration")
}

// PointWebhooksAt rewrites every webhook of a webhook configuration to call
// base+<the service path> directly, trusting caPEM, instead of the in-cluster
// Service.
func PointWebhooksAt(o *unstructured.Unstructured, base string, caPEM []byte) error {
	return eachWebhook(o, func(hook map[string]any) error {
		path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
		u, err := url.JoinPath(base, path)
		if err != nil {
			return err
		}
		hook["clientConfig"] = map[string]any{"url": u, "caBundle": base64.StdEncoding.EncodeToString(caPEM)}
		return nil
	})
}

// ControllerMatchCondition names the matchCondition of the instance webhook
// configurations that exempts korvid's controller.
const ControllerMatchCondition = "exclude-korvid-controller"

// ExemptUser points the controller-exempting matchCondition of every webhook
// of a configuration at user (the identity the local controller runs as);
// webhooks without it are left alone.
func ExemptUser(o *unstructured.Unstructured, user string) error {
	return eachWebhook(o, func(hook map[string]any) error {
		conds, _, _ := unstructured.NestedSlice(hook, "matchConditions")
		for j, c := range conds {
			m, ok := c.(map[string]any)
			if !ok || m["name"] != ControllerMatchCondition {
				continue
			}
			m["expression"] = fmt.Sprintf("request.userInfo.username != %q", user)
			conds[j] = m
		}
		if len(conds) > 0 {
			hook["matchConditions"] = conds
		}
		return nil
	})
}

// eachWebhook calls edit on every webhook of a webhook configuration and
// stores what it changed.
func eachWebhook(o *unstructured.Unstructured, edit func(hook map[string]any) error) error {
	hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
	if err != nil {
		return fmt.Errorf("%s %s: webhooks: %w", o.GetKind(), o.GetName(), err)
	}
	for i, h := range hooks {
		hook, ok := h.(map[string]any)
		if !ok {
			return fmt.Errorf("%s %s: webhooks[%d] is not an object", o.GetKind(), o.GetName(), i)
		}
		if err := edit(hook); err != nil {
			return fmt.Errorf("%s %s: webhooks[%d]: %w", o.GetKind(), o.GetName(), i, err)
		}
		hooks[i] = hook
	}
	return unstructured.SetNestedSlice(o.Object, hooks, "webhooks")
}

// installKorvid installs the CRDs and the webhook configurations (calling
// the local webhook process), then starts the webhook and the controller.
func (c *Cluster) installKorvid(ctx context.Context, k *pki) error {
	o := c.opts
	kustomize := filepath.Join(o.RepoRoot, "deploy", "kustomize")
	crds, err := Render(filepath.Join(kustomize, "crd"))
	if err != nil {
		return err
	}
	if err := Apply(ctx, c.Client, crds...); err != nil {
		return err
	}
	if err := WaitEstablished(ctx, c.Client, crds, 30*time.Second); err != nil {
		return err
	}
	c.opts.Logf("installed %d CRDs", len(crds))

	// The key that signs RGD author records lives in korvid's namespace, as
	// installed; the controller would create it on start, but the webhook
	// (which waits for it) starts first here.
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", SystemNamespace, err)
	}
	if _, err := trust.EnsureSigningKey(ctx, c.Client, types.NamespacedName{Namespace: SystemNamespace, Name: SigningKeySecret}); err != nil {
		return err
	}

	// Start the webhook before registering it: RGD admission fails closed.
	if err := c.StartWebhook(ctx); err != nil {
		return err
	}
	objs, err := Render(filepath.Join(kustomize, "webhook"))
	if err != nil {
		return err
	}
	base := "https://127.0.0.1:" + strconv.Itoa(o.WebhookPort)
	var hooks []*unstructured.Unstructured
	for _, obj := range objs {
		if !IsWebhookConfiguration(obj) {
			continue
		}
		if err := PointWebhooksAt(obj, base, k.webhookCA.CertPEM); err != nil {
			return err
		}
		if err := ExemptUser(obj, ControllerUser); err != nil {
			return err
		}
		hooks = append(hooks, obj)
	}
	if err := Apply(ctx, c.Client, hooks...); err != nil {
		return err
	}
	c.opts.Logf("registered %d webhook configurations calling %s", len(hooks), base)

	return c.StartController(ctx)
}

// korvid's namespace and the Secret holding the signing key of RGD author
// records: the binaries' defaults, as installed.
const (
	SystemNamespace  = "korvid-system"
	SigningKeySecret = "korvid-author-signing-key"
)

// controllerName is the korvid controller's process name (and log file).
const controllerName = "controller"

// StartController starts the korvid controller and waits until it is ready.
// Start does it; call it again after StopController. Its metrics are served
// as installed: HTTPS behind the API server's authentication and
// authorization (read them with the admin's token, ControllerMetrics).
func (c *Cluster) StartController(ctx context.Context) error {
	args := append([]string{
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(controllerMetricsPort),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(controllerHealthPort),
		"--leader-elect=false",
	}, c.opts.ControllerArgs...)
	// The controller has its own identity, which the instance webhooks exempt.
	controller, err := c.startWithEnv(controllerName, append([]string{"KUBECONFIG=" + c.ControllerKubeconfig}, c.opts.ControllerEnv...), filepath.Join(c.opts.KorvidBinDir, "controller"), args...)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, controller, nil, "http://127.0.0.1:"+strconv.Itoa(controllerHealthPort)+"/readyz", 60*time.Second)
}

// StopController stops the korvid controller (if it runs) and waits for it.
func (c *Cluster) StopController() { c.stopProcess(controllerName) }

// webhookName is the korvid webhook's process name (and log file).
const webhookName = "webhook"

// StartWebhook starts the korvid webhook and waits until it is ready. Start
// does it; call it again after StopWebhook.
func (c *Cluster) StartWebhook(ctx context.Context) error {
	o := c.opts
	webhook, err := c.startWithEnv(webhookName, []string{"KUBECONFIG=" + c.Kubeconfig}, filepath.Join(o.KorvidBinDir, "webhook"),
		"--cert-dir="+filepath.Join(o.Dir, "webhook-certs"),
		"--port="+strconv.Itoa(o.WebhookPort),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(webhookHealthPort),
		"--instance-validating-webhook-configuration=korvid-instance-validation",
		"--instance-mutating-webhook-configuration=korvid-instance-defaulting",
		"--controller-username="+ControllerUser,
	)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, webhook, nil, "http://127.0.0.1:"+strconv.Itoa(webhookHealthPort)+"/readyz", 60*time.Second)
}

// StopWebhook stops the korvid webhook (if it runs) and waits for it: the
// webhook configurations stay, so RGD writes fail closed until it is back.
func (c *Cluster) StopWebhook() { c.stopProcess(webhookName) }

// WebhookRunning reports whether the korvid webhook runs.
func (c *Cluster) WebhookRunning() bool { return c.PID(webhookName) != 0 }

func (c *Cluster) stopProcess(name string) {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if p := c.procs[i]; p.name == name && !p.exited() {
			c.opts.Logf("stopping %s", p.name)
			_ = p.stop(15 * time.Second)
		}
	}
}

// ControllerPID is the pid of the running korvid controller, or 0.
func (c *Cluster) ControllerPID() int { return c.PID(controllerName) }

// PID is the pid of the running child called name (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok, webhook, controller), or 0.
func (c *Cluster) PID(name string) int {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if p := c.procs[i]; p.name == name && !p.exited() {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

// ControllerMetricsAddress is the host:port of the korvid controller's
// metrics endpoint.
func (c *Cluster) ControllerMetricsAddress() string {
	return "127.0.0.1:" + strconv.Itoa(controllerMetricsPort)
}

// Local ports of the korvid binaries' probe and metrics servers.
const (
	webhookHealthPort     = 18091
	controllerMetricsPort = 18080
	controllerHealthPort  = 18081
)
