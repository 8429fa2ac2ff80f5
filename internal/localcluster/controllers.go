package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

func (c *Cluster) startControllers(ctx context.Context) error {
	o := c.opts
	if _, err := c.start("kube-controller-manager", filepath.Join(o.ControlPlaneDir, "kube-controller-manager"),
		controllerManagerArgs(o, c.Kubeconfig)...); err != nil {
		return err
	}
	if _, err := c.start("kube-scheduler", filepath.Join(o.ControlPlaneDir, "kube-scheduler"),
		schedulerArgs(o, c.Kubeconfig)...); err != nil {
		return err
	}
	stages, err := c.writeKwokStages()
	if err != nil {
		return err
	}
	if _, err := c.start("kwok", filepath.Join(o.ControlPlaneDir, "kwok"),
		"--kubeconfig="+c.Kubeconfig,
		"--config="+stages,
		"--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.1",
	); err != nil {
		return err
	}
	return c.createNodes(ctx)
}

// controllerManagerArgs are kube-controller-manager's flags: the
// scheduler's, and workers raised so that thousands of Deployments become
// available at the pace the API server allows.
func controllerManagerArgs(o Options, kubeconfig string) []string {
	syncs := strconv.Itoa(o.ConcurrentSyncs)
	return append(schedulerArgs(o, kubeconfig),
		// No token controller (no signing key wiring needed), no node IPAM
		// and no node lifecycle controller: kwok's nodes have no heartbeat.
		"--controllers=*,-serviceaccount-token,-nodeipam,-node-lifecycle-controller",
		"--concurrent-deployment-syncs="+syncs,
		"--concurrent-replicaset-syncs="+syncs,
		"--concurrent-service-endpoint-syncs="+syncs,
		"--concurrent-gc-syncs="+syncs,
		"--concurrent-namespace-syncs="+syncs,
	)
}

// schedulerArgs are kube-scheduler's flags, which kube-controller-manager
// takes too: client limits raised so that the components keep the pace the
// API server allows rather than 20 requests per second.
func schedulerArgs(o Options, kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--kube-api-qps=" + strconv.Itoa(o.ClientQPS),
		"--kube-api-burst=" + strconv.Itoa(o.ClientBurst),
	}
}

// writeKwokStages concatenates kwok's Stage manifests into one config file.
func (c *Cluster) writeKwokStages() (string, error) {
	if len(c.opts.KwokStageFiles) == 0 {
		return "", fmt.Errorf("no kwok stage files given: pods would never become ready")
	}
	var b strings.Builder
	for _, f := range c.opts.KwokStageFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading kwok stage %s: %w", f, err)
		}
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	path := filepath.Join(c.opts.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("writing kwok stages: %w", err)
	}
	return path, nil
}

// createNodes registers fake nodes for kwok and removes the not-ready taint
// the API server puts on new nodes (nothing would lift it: the node
// lifecycle controller is off).
func (c *Cluster) createNodes(ctx context.Context) error {
	for i := range c.opts.Nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Annotations: map[string]string{kwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					"type":                   "kwok",
					"kubernetes.io/hostname": fmt.Sprintf("kwok-node-%d", i),
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: nodeResources(c.opts.PodsPerNode),
				Capacity:    nodeResources(c.opts.PodsPerNode),
			},
		}
		if err := c.Client.Create(ctx, node); err != nil {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	// The taint may be added by admission or shortly after; clear it until
	// every node is untainted and Ready (kwok's node stage).
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var nodes corev1.NodeList
		if err := c.Client.List(ctx, &nodes); err != nil {
			return false, nil //nolint:nilerr // retried until the timeout
		}
		ready := 0
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if len(n.Spec.Taints) > 0 {
				patch := client.MergeFrom(n.DeepCopy())
				n.Spec.Taints = nil
				_ = c.Client.Patch(ctx, n, patch)
				continue
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == c.opts.Nodes, nil
	})
}

// nodeResources is what a fake node advertises: enough CPU and memory that
// only the pod count limits scheduling (pods without requests use none).
func nodeResources(pods int) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   *resource.NewQuantity(int64(pods), resource.DecimalSI),
	}
}
