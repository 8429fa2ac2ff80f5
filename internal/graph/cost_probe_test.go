package graph_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/korvid/korvid/internal/graph"
)

func TestCostProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	for _, e := range []string{
		"${db.spec.users.map(u, u.name).join(',')}",
		"${db.status.conditions.map(c, c.type).join(',')}",
		"${db.status.?conditions.orValue([]).map(c, c.type).join(',')}",
		"${db.spec.users.map(u, u.roles.join(',')).join(',')}",
		"${schema.spec.users.map(u, u).join(',')}",
	} {
		y := fmt.Sprintf(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: probe
spec:
  schema:
    apiVersion: v1alpha1
    kind: Probe
    spec:
      users: "[]string"
  resources:
  - id: db
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: x
      spec:
        engine: postgres
        version: "%s"
`, e)
		opts := graph.DefaultOptions()
		opts.MaxExpressionCost = 1
		_, errs := graph.Compile(parseRGD(t, []byte(y)), testResolver(t), opts)
		t.Log(errs)
	}
}
