package cli

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/korvid/korvid/internal/graph"
)

func newGraphCommand(s *streams) *cobra.Command {
	f := newCompileFlags()
	var output string
	cmd := &cobra.Command{
		Use:   "graph -f FILE|DIR ... [-o text|dot|mermaid]",
		Short: "Draw the dependency graph of each RGD",
		Long: `graph prints the resources of each ResourceGraphDefinition in topological
order (the order korvid creates them in) with what each one depends on: as
text, as Graphviz dot, or as a Mermaid flowchart (GitHub renders Mermaid in
pull requests and Markdown files).`,
		Example: `  korvid graph -f examples/webapp/rgd.yaml
  korvid graph -f examples/webapp/rgd.yaml -o dot | dot -Tsvg > webapp.svg`,
		Args: cobra.NoArgs,
	}
	checkOutput := outputFlag(cmd, &output, "text", "dot", "mermaid")
	f.addFlags(cmd.Flags(), true)
	registerCompileCompletions(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		if err := checkOutput(); err != nil {
			return err
		}
		results, err := compileInputs(s, f)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		for i, r := range results {
			if i > 0 {
				b.WriteString("\n")
			}
			switch output {
			case "dot":
				writeDot(&b, r.graph)
			case "mermaid":
				writeMermaid(&b, r.graph)
			default:
				writeGraphText(&b, r.graph)
			}
		}
		return flush(s.out, &b)
	}
	return cmd
}

// ordered returns the nodes in topological order.
func ordered(g *graph.Graph) []*graph.Node {
	out := make([]*graph.Node, 0, len(g.TopologicalOrder))
	for _, id := range g.TopologicalOrder {
		out = append(out, g.Node(id))
	}
	return out
}

// nodeLabel describes a node: its kind and how it is created.
func nodeLabel(n *graph.Node) string {
	var tags []string
	if n.External {
		tags = append(tags, "externalRef")
	}
	if n.Collection && !n.External {
		tags = append(tags, "forEach")
	}
	l := n.GVK.Kind
	if len(tags) > 0 {
		l += ", " + strings.Join(tags, ", ")
	}
	return l
}

func writeGraphText(w *bytes.Buffer, g *graph.Graph) {
	fmt.Fprintf(w, "ResourceGraphDefinition %s generates %s\n", g.RGDName, g.Instance.GVK.String())
	for i, n := range ordered(g) {
		deps := "instance"
		if len(n.Dependencies) > 0 {
			deps = "instance, " + strings.Join(n.Dependencies, ", ")
		}
		fmt.Fprintf(w, "%d. %s (%s) <- %s\n", i+1, n.ID, nodeLabel(n), deps)
	}
}

func writeDot(w *bytes.Buffer, g *graph.Graph) {
	fmt.Fprintf(w, "digraph %q {\n  rankdir=LR;\n", g.RGDName)
	fmt.Fprintf(w, "  %q [label=%q, shape=box, style=bold];\n", "schema", g.Instance.GVK.Kind+" (instance)")
	for _, n := range ordered(g) {
		shape := "box"
		if n.External {
			shape = "box, style=dashed"
		}
		fmt.Fprintf(w, "  %q [label=%q, shape=%s];\n", n.ID, n.ID+"\n"+nodeLabel(n), shape)
	}
	for _, n := range ordered(g) {
		fmt.Fprintf(w, "  %q -> %q;\n", "schema", n.ID)
		for _, d := range n.Dependencies {
			fmt.Fprintf(w, "  %q -> %q;\n", d, n.ID)
		}
	}
	fmt.Fprintln(w, "}")
}

func writeMermaid(w *bytes.Buffer, g *graph.Graph) {
	fmt.Fprintln(w, "flowchart LR")
	fmt.Fprintf(w, "  schema[[\"%s (instance)\"]]\n", g.Instance.GVK.Kind)
	for _, n := range ordered(g) {
		open, closing := "[", "]"
		if n.External {
			open, closing = "[/", "/]"
		}
		fmt.Fprintf(w, "  %s%s\"%s<br/>%s\"%s\n", mermaidID(n.ID), open, n.ID, nodeLabel(n), closing)
	}
	for _, n := range ordered(g) {
		fmt.Fprintf(w, "  schema --> %s\n", mermaidID(n.ID))
		for _, d := range n.Dependencies {
			fmt.Fprintf(w, "  %s --> %s\n", mermaidID(d), mermaidID(n.ID))
		}
	}
}

// mermaidID keeps ids from clashing with Mermaid keywords (end, graph, ...).
func mermaidID(id string) string { return "r_" + id }
