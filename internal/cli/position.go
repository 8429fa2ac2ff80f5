package cli

import (
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Position is a 1-based line and column in a file; zero means unknown.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// pathSegment is one step of a field path: a name (map key) or an index.
type pathSegment struct {
	name  string
	index int // -1 for a name
}

// parseFieldPath splits a field path as k8s.io/apimachinery's field.Path
// prints it (spec.resources[1].template.metadata.labels[app], ...) into
// segments. Brackets hold either an index or a map key.
func parseFieldPath(p string) []pathSegment {
	var segs []pathSegment
	var name strings.Builder
	flush := func() {
		if name.Len() > 0 {
			segs = append(segs, pathSegment{name: name.String(), index: -1})
			name.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				name.WriteString(p[i:])
				i = len(p)
				continue
			}
			inner := p[i+1 : i+1+end]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				segs = append(segs, pathSegment{index: n})
			} else {
				segs = append(segs, pathSegment{name: inner, index: -1})
			}
			i += end + 1
		default:
			name.WriteByte(c)
		}
	}
	flush()
	return segs
}

// locate returns the position of the value a field path names in a YAML
// document, or of the deepest ancestor found when the path goes further
// than the document (a missing field is reported where it would go). For a
// scalar the position is the value's; for a mapping or sequence it is its
// key's, which is the line a reader looks at.
func locate(doc *yaml.Node, path string) Position {
	if doc == nil {
		return Position{}
	}
	cur := deref(doc)
	if cur.Kind == yaml.DocumentNode && len(cur.Content) > 0 {
		cur = deref(cur.Content[0])
	}
	pos := Position{Line: cur.Line, Column: cur.Column}
	segs := parseFieldPath(path)
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		switch {
		case seg.index >= 0 && cur.Kind == yaml.SequenceNode:
			if seg.index >= len(cur.Content) {
				return pos
			}
			cur = deref(cur.Content[seg.index])
			pos = Position{Line: cur.Line, Column: cur.Column}
		case cur.Kind == yaml.MappingNode:
			name := seg.name
			if seg.index >= 0 {
				name = strconv.Itoa(seg.index)
			}
			key, val := lookup(cur, name)
			// A key may itself contain dots (a label or annotation key
			// written as a child): try joining the following segments.
			for j := i + 1; key == nil && j < len(segs) && segs[j].index < 0; j++ {
				name += "." + segs[j].name
				if key, val = lookup(cur, name); key != nil {
					i = j
				}
			}
			if key == nil {
				return pos
			}
			cur = deref(val)
			if cur.Kind == yaml.ScalarNode {
				pos = Position{Line: cur.Line, Column: cur.Column}
			} else {
				pos = Position{Line: key.Line, Column: key.Column}
			}
		default:
			return pos
		}
	}
	return pos
}

func lookup(m *yaml.Node, name string) (key, val *yaml.Node) {
	for k := 0; k+1 < len(m.Content); k += 2 {
		if m.Content[k].Value == name {
			return m.Content[k], m.Content[k+1]
		}
	}
	return nil, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
