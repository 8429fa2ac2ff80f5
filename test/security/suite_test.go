// Package security is korvid's attacker suite: a user with only the rights
// each scenario names (impersonated, RBAC set up by the suite) tries every
// known route around the trust boundary against a real API server, the real
// webhook over TLS and the real controller, then again with the webhook
// configurations removed, where the controller alone must refuse.
package security

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/korvid/korvid/internal/admission"
	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/test/envtest"
)

var env *envtest.Env

// controllerUser is the identity the controller runs as (impersonated, with
// the rights of system:masters), as its ServiceAccount does in a cluster.
const controllerUser = "system:serviceaccount:korvid-system:korvid-controller"

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	mut, val, err := envtest.KorvidWebhooks()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = envtest.Start(envtest.Options{
		WebhookInstallOptions: crenvtest.WebhookInstallOptions{MutatingWebhooks: mut, ValidatingWebhooks: val},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop, err := startKorvid()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	stop()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

// startKorvid runs the webhook and the controller with the production
// wiring and the trust checks on, and waits until the webhook is ready.
func startKorvid() (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan struct{}
	run := func(mgr manager.Manager) {
		ch := make(chan struct{})
		done = append(done, ch)
		go func() {
			defer close(ch)
			if err := mgr.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "manager stopped:", err)
			}
		}()
	}
	stop := func() {
		cancel()
		for _, ch := range done {
			<-ch
		}
	}

	// The controller first: it creates the signing key the webhook waits for.
	ccfg := rest.CopyConfig(env.Config)
	ccfg.Impersonate = rest.ImpersonationConfig{UserName: controllerUser, Groups: []string{"system:masters", "system:authenticated"}}
	cmgr, err := ctrl.NewManager(ccfg, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return stop, err
	}
	if err := ensureNamespace("korvid-system"); err != nil {
		return stop, err
	}
	if _, err := controller.Setup(cmgr, controller.Options{Controller: *options.NewController(), Graph: graph.DefaultOptions(), Trust: options.NewTrust()}); err != nil {
		return stop, err
	}
	run(cmgr)

	wio := env.Environment.WebhookInstallOptions
	probe, err := freePort()
	if err != nil {
		return stop, err
	}
	wo := options.NewWebhook()
	wo.CertDir, wo.Port = wio.LocalServingCertDir, wio.LocalServingPort
	wo.HealthProbeBindAddress, wo.MetricsBindAddress = probe, "0"
	if err := wo.Validate(); err != nil {
		return stop, err
	}
	mo := admission.ManagerOptions(wo, env.Scheme)
	mo.Metrics = metricsserver.Options{BindAddress: "0"}
	mo.WebhookServer = webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})
	wmgr, err := manager.New(env.Config, mo)
	if err != nil {
		return stop, err
	}
	if err := admission.Setup(wmgr, wo); err != nil {
		return stop, err
	}
	run(wmgr)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return stop, fmt.Errorf("the webhook did not become ready")
}

func ensureNamespace(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

const (
	timeout = 60 * time.Second
	tick    = 100 * time.Millisecond
)

// as returns a client that acts as user, bound to rules by a ClusterRole the
// suite creates (and removes after the test).
func as(t *testing.T, user string, rules ...rbacv1.PolicyRule) client.Client {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "sec-" + user}, Rules: rules}
	require.NoError(t, env.Client.Create(ctx, role))
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sec-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	require.NoError(t, env.Client.Create(ctx, binding))
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), role)
	})
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	return c
}

// rgdAuthor may manage RGDs, ConfigMaps and the kinds RGDs generate, and
// nothing else: the rights of a platform team member in the scenarios.
func rgdAuthorRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"kro.run"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}},
	}
}
