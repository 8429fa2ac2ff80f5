package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/schemadiff"
)

// schemaChange is one difference between the instance schemas of two
// versions of an RGD.
type schemaChange struct {
	// Field is the RGD field path the change is at, e.g. spec.schema.spec.port.
	Field       string `json:"field"`
	Description string `json:"description"`
	Breaking    bool   `json:"breaking"`
	// File, Line and Column locate the field in the new version (the old
	// one for a removed field) when it can be traced.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

type diffReport struct {
	Old      string         `json:"old"`
	New      string         `json:"new"`
	Breaking bool           `json:"breaking"`
	Allowed  bool           `json:"allowedByAnnotation"`
	Verdict  string         `json:"verdict"`
	Changes  []schemaChange `json:"changes"`
	// compared is false when the old version did not compile.
	compared bool
}

func newDiffCommand(s *streams) *cobra.Command {
	f := newCompileFlags()
	var output string
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "List the instance schema changes between two versions of an RGD, breaking or not",
		Long: `diff compiles two versions of a ResourceGraphDefinition (one RGD per file) and
lists the changes to the schema of the instances they accept. A change is
marked breaking exactly when korvid's webhook would refuse the update for it
(an existing instance could become invalid); the update is then refused unless
the new version carries the annotation kro.run/allow-breaking-changes: "true".

The exit code is 1 when the webhook would refuse the update (a breaking change
without the annotation, or a new version that does not compile).`,
		Example: `  git show main:rgds/app.yaml > /tmp/old.yaml
  korvid diff /tmp/old.yaml rgds/app.yaml`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: fileCompletion,
	}
	checkOutput := outputFlag(cmd, &output, "text", "json")
	f.addFlags(cmd.Flags(), false)
	registerCompileCompletions(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if err := checkOutput(); err != nil {
			return err
		}
		oldC, err := compileOne(s, f, args[0])
		if err != nil {
			return err
		}
		newC, err := compileOne(s, f, args[1])
		if err != nil {
			return err
		}
		if len(newC.diags) > 0 {
			var b bytes.Buffer
			for _, d := range newC.diags {
				fmt.Fprintln(&b, d.String())
			}
			if err := flush(s.err, &b); err != nil {
				return err
			}
			return errInvalid
		}
		rep := diffReport{Old: args[0], New: args[1], Changes: []schemaChange{}}
		if len(oldC.diags) > 0 {
			rep.Verdict = fmt.Sprintf("%s does not compile (%d error(s)); the webhook compares nothing against a version that does not compile", args[0], len(oldC.diags))
			var b bytes.Buffer
			if err := writeDiff(&b, output, rep); err != nil {
				return err
			}
			return flush(s.out, &b)
		}
		rep.compared = true
		rep.Changes = diffSchemas(oldC, newC)
		for _, c := range rep.Changes {
			rep.Breaking = rep.Breaking || c.Breaking
		}
		rep.Allowed = newC.rgd.Annotations[v1alpha1.AnnotationAllowBreakingChanges] == "true"
		switch {
		case !rep.Breaking:
			rep.Verdict = "no breaking change: the webhook accepts this update"
		case rep.Allowed:
			rep.Verdict = fmt.Sprintf("breaking changes allowed by annotation %s: the webhook accepts this update with warnings; existing instances may no longer be valid", v1alpha1.AnnotationAllowBreakingChanges)
		default:
			rep.Verdict = fmt.Sprintf("breaking changes: the webhook refuses this update unless the new version is annotated %s=\"true\"", v1alpha1.AnnotationAllowBreakingChanges)
		}
		var b bytes.Buffer
		if err := writeDiff(&b, output, rep); err != nil {
			return err
		}
		if err := flush(s.out, &b); err != nil {
			return err
		}
		if rep.Breaking && !rep.Allowed {
			return errInvalid
		}
		return nil
	}
	return cmd
}

// compileOne compiles the single RGD of a file.
func compileOne(s *streams, f *compileFlags, path string) (*compiled, error) {
	res, err := f.resolver()
	if err != nil {
		return nil, err
	}
	docs, err := readInputs([]string{path}, s.in)
	if err != nil {
		return nil, err
	}
	results, err := compileDocuments(docs, res, f.graph.Options())
	if err != nil {
		return nil, err
	}
	if len(results) != 1 {
		return nil, inputErrorf("%s holds %d ResourceGraphDefinitions; diff compares one with one", path, len(results))
	}
	return results[0], nil
}

// diffSchemas lists the breaking changes the webhook finds
// (graph.BreakingChanges) and the other differences, each once, by path.
func diffSchemas(oldC, newC *compiled) []schemaChange {
	before, after := graph.InstanceSpecSchema(oldC.graph.CRD), graph.InstanceSpecSchema(newC.graph.CRD)
	var out []schemaChange
	breakingAt := map[string]bool{}
	for _, ch := range graph.BreakingChanges(oldC.graph.CRD, newC.graph.CRD) {
		breakingAt[ch.Path] = true
		out = append(out, schemaChange{Field: "spec.schema." + ch.Path, Description: ch.Description, Breaking: true})
	}
	var all []schemadiff.Change
	compareSchemas(&all, "spec", before, after)
	for _, ch := range all {
		if !breakingAt[ch.Path] {
			out = append(out, schemaChange{Field: "spec.schema." + ch.Path, Description: ch.Description})
		}
	}
	for i := range out {
		c := &out[i]
		doc := newC.doc
		if strings.Contains(c.Description, "removed") {
			doc = oldC.doc
		}
		// Array items and map values are written [*]: point at the field.
		p := doc.position(strings.ReplaceAll(c.Field, "[*]", ""))
		c.File, c.Line, c.Column = doc.file, p.Line, p.Column
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// compareSchemas records every difference between two schemas: added and
// removed properties, required-ness and changed attributes.
func compareSchemas(out *[]schemadiff.Change, path string, old, new *extv1.JSONSchemaProps) {
	add := func(p, format string, args ...any) {
		*out = append(*out, schemadiff.Change{Path: p, Description: fmt.Sprintf(format, args...)})
	}
	switch {
	case old == nil && new == nil:
		return
	case old == nil:
		add(path, "added")
		return
	case new == nil:
		add(path, "removed")
		return
	}
	oa, na := attributes(old), attributes(new)
	both := map[string]string{}
	maps.Copy(both, oa)
	maps.Copy(both, na)
	for _, k := range slices.Sorted(maps.Keys(both)) {
		ov, inOld := oa[k]
		nv, inNew := na[k]
		switch {
		case !inOld:
			add(path, "%s %s added", k, nv)
		case !inNew:
			add(path, "%s %s removed", k, ov)
		case ov != nv:
			add(path, "%s changed from %s to %s", k, ov, nv)
		}
	}
	oldReq, newReq := setOf(old.Required), setOf(new.Required)
	props := map[string]extv1.JSONSchemaProps{}
	maps.Copy(props, old.Properties)
	maps.Copy(props, new.Properties)
	for _, n := range slices.Sorted(maps.Keys(props)) {
		p := path + "." + n
		op, inOld := old.Properties[n]
		np, inNew := new.Properties[n]
		switch {
		case inOld && inNew:
			if oldReq[n] != newReq[n] {
				if newReq[n] {
					add(p, "made required")
				} else {
					add(p, "no longer required")
				}
			}
			compareSchemas(out, p, &op, &np)
		case inNew:
			if newReq[n] {
				add(p, "added (required)")
			} else {
				add(p, "added (optional)")
			}
		default:
			add(p, "removed")
		}
	}
	compareSchemas(out, path+"[*]", itemsOf(old), itemsOf(new))
	compareSchemas(out, path+"[*]", valuesOf(old), valuesOf(new))
}

// itemsOf is the schema of a list's items, valuesOf of a map's values; nil
// when there is none.
func itemsOf(s *extv1.JSONSchemaProps) *extv1.JSONSchemaProps {
	if s.Items == nil {
		return nil
	}
	return s.Items.Schema
}

func valuesOf(s *extv1.JSONSchemaProps) *extv1.JSONSchemaProps {
	if s.AdditionalProperties == nil {
		return nil
	}
	return s.AdditionalProperties.Schema
}

// attributes returns a schema's own keywords (not its children) as JSON.
func attributes(s *extv1.JSONSchemaProps) map[string]string {
	c := *s
	c.Properties, c.Items, c.AdditionalProperties, c.Required = nil, nil, nil, nil
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func writeDiff(w *bytes.Buffer, format string, rep diffReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if len(rep.Changes) == 0 && rep.compared {
		fmt.Fprintln(w, "no change to the instance schema")
	}
	for _, c := range rep.Changes {
		mark := "compatible"
		if c.Breaking {
			mark = "BREAKING  "
		}
		loc := ""
		if c.File != "" {
			loc = fmt.Sprintf("%s:%d:%d: ", c.File, c.Line, c.Column)
		}
		fmt.Fprintf(w, "%s %s%s: %s\n", mark, loc, c.Field, c.Description)
	}
	fmt.Fprintln(w, rep.Verdict)
	return nil
}
