package graph

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// orderNodes fills Node.Dependencies, reports dependency cycles (naming
// each cycle) and returns the topological order, ties broken by declaration
// order.
func (c *compiler) orderNodes() []string {
	idx := map[string]int{}
	for i, n := range c.nodes {
		if c.byID[n.node.ID] == n {
			idx[n.node.ID] = i
		}
	}
	// edges[i] are the indexes node i depends on, in declaration order.
	edges := make([][]int, len(c.nodes))
	for i, n := range c.nodes {
		if c.byID[n.node.ID] != n {
			continue
		}
		for j, m := range c.nodes {
			if c.byID[m.node.ID] == m && n.deps[m.node.ID] {
				edges[i] = append(edges[i], j)
				n.node.Dependencies = append(n.node.Dependencies, m.node.ID)
			}
		}
	}

	// Cycle detection by depth-first search in declaration order; each
	// cycle is reported once, at its first node in declaration order.
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(c.nodes))
	var stack []int
	cyclic := false
	reported := map[string]bool{}
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, j := range edges[i] {
			switch color[j] {
			case white:
				visit(j)
			case grey:
				cyclic = true
				start := 0
				for k, s := range stack {
					if s == j {
						start = k
					}
				}
				cyc := append([]int(nil), stack[start:]...)
				// Rotate so the cycle starts at its first declared node.
				minK := 0
				for k := range cyc {
					if cyc[k] < cyc[minK] {
						minK = k
					}
				}
				cyc = append(cyc[minK:], cyc[:minK]...)
				names := make([]string, 0, len(cyc)+1)
				for _, k := range cyc {
					names = append(names, c.nodes[k].node.ID)
				}
				names = append(names, names[0])
				desc := strings.Join(names, " -> ")
				if !reported[desc] {
					reported[desc] = true
					first := c.nodes[cyc[0]]
					c.add(field.Invalid(first.path, first.node.ID, fmt.Sprintf("dependency cycle: %s; break it by removing one of these references", desc)))
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range c.nodes {
		if color[i] == white && c.byID[c.nodes[i].node.ID] == c.nodes[i] {
			visit(i)
		}
	}
	if cyclic {
		return nil
	}

	// Kahn's algorithm, always taking the ready node declared first.
	indeg := make([]int, len(c.nodes))
	dependents := make([][]int, len(c.nodes))
	for i, es := range edges {
		indeg[i] = len(es)
		for _, j := range es {
			dependents[j] = append(dependents[j], i)
		}
	}
	done := make([]bool, len(c.nodes))
	var order []string
	for {
		next := -1
		for i, n := range c.nodes {
			if !done[i] && indeg[i] == 0 && c.byID[n.node.ID] == n {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		done[next] = true
		order = append(order, c.nodes[next].node.ID)
		for _, d := range dependents[next] {
			indeg[d]--
		}
	}
	return order
}
