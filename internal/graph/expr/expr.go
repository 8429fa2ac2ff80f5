// Package expr finds and splits the ${...} expressions embedded in the string
// values of a ResourceGraphDefinition.
//
// A string that is exactly one ${...} is a standalone expression: its result,
// of any type, replaces the value. A string with text around or between
// expressions is a string template: a sequence of literal and expression
// parts whose expressions must each produce a string. A string without ${ is a
// plain literal.
//
// The scanner understands enough CEL to find the closing brace: braces of map
// literals nest, and string literals (quoted with ' or ", triple-quoted, raw
// with an r prefix) and // comments may contain any character, including
// "${" and "}". So ${"${VAR}"} evaluates to the literal text ${VAR}.
package expr

import (
	"fmt"
	"strings"
)

// Part is one piece of a parsed string: a literal text or an expression.
type Part struct {
	// Literal is the text of a literal part.
	Literal string
	// Expr is the CEL source of an expression part, without ${ and }.
	Expr string
	// IsExpr reports whether the part is an expression.
	IsExpr bool
}

// Value is a parsed string value.
type Value struct {
	// Standalone reports that the whole string is a single ${...}; Parts then
	// holds exactly that one expression part.
	Standalone bool
	// Parts are the literal and expression parts in order. Adjacent literals
	// are merged; empty literals are dropped.
	Parts []Part
}

// HasExpressions reports whether the value contains at least one expression.
func (v Value) HasExpressions() bool {
	for _, p := range v.Parts {
		if p.IsExpr {
			return true
		}
	}
	return false
}

// Exprs returns the CEL sources of the expression parts in order.
func (v Value) Exprs() []string {
	var out []string
	for _, p := range v.Parts {
		if p.IsExpr {
			out = append(out, p.Expr)
		}
	}
	return out
}

// String reassembles the original text.
func (v Value) String() string {
	var b strings.Builder
	for _, p := range v.Parts {
		if p.IsExpr {
			b.WriteString("${")
			b.WriteString(p.Expr)
			b.WriteString("}")
		} else {
			b.WriteString(p.Literal)
		}
	}
	return b.String()
}

// SyntaxError describes a string that cannot be split into parts.
type SyntaxError struct {
	// Offset is the byte offset of the "${" that starts the faulty expression.
	Offset int
	// Msg says what is wrong.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s (expression starting at offset %d)", e.Msg, e.Offset)
}

// Parse splits s into literal and expression parts.
func Parse(s string) (Value, error) {
	var v Value
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			v.Parts = append(v.Parts, Part{Literal: lit.String()})
			lit.Reset()
		}
	}
	i := 0
	for i < len(s) {
		start := strings.Index(s[i:], "${")
		if start < 0 {
			lit.WriteString(s[i:])
			break
		}
		start += i
		lit.WriteString(s[i:start])
		end, err := scanExpr(s, start+2)
		if err != nil {
			return Value{}, &SyntaxError{Offset: start, Msg: err.Error()}
		}
		src := s[start+2 : end]
		if strings.TrimSpace(src) == "" {
			return Value{}, &SyntaxError{Offset: start, Msg: "empty expression ${}"}
		}
		flush()
		v.Parts = append(v.Parts, Part{Expr: src, IsExpr: true})
		i = end + 1
	}
	flush()
	v.Standalone = len(v.Parts) == 1 && v.Parts[0].IsExpr
	return v, nil
}

// scanExpr returns the index of the "}" closing the expression whose source
// starts at pos.
func scanExpr(s string, pos int) (int, error) {
	depth := 0
	i := pos
	for i < len(s) {
		c := s[i]
		switch {
		case c == '{':
			depth++
			i++
		case c == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
			i++
		case c == '\'' || c == '"':
			end, err := skipString(s, i, isRawPrefix(s, pos, i))
			if err != nil {
				return 0, err
			}
			i = end
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				return 0, fmt.Errorf("unterminated expression: a // comment runs to the end of the value, missing closing \"}\"")
			}
			i += nl + 1
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unterminated expression: missing closing \"}\"")
}

// isRawPrefix reports whether the quote at q is preceded by a raw-string
// prefix (r or R, optionally combined with b or B) that is not the tail of a
// longer identifier. lo is the start of the expression source.
func isRawPrefix(s string, lo, q int) bool {
	j := q
	raw, bytes := 0, 0
	for j > lo && q-j < 2 {
		switch s[j-1] {
		case 'r', 'R':
			raw++
		case 'b', 'B':
			bytes++
		default:
			return raw == 1 && bytes <= 1 && !(j > lo && isIdentChar(s[j-1]))
		}
		j--
	}
	return raw == 1 && bytes <= 1 && !(j > lo && isIdentChar(s[j-1]))
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// skipString returns the index just past the string literal whose opening
// quote is at q.
func skipString(s string, q int, raw bool) (int, error) {
	quote := s[q]
	delim := s[q : q+1]
	if q+2 < len(s) && s[q+1] == quote && s[q+2] == quote {
		delim = s[q : q+3]
	}
	i := q + len(delim)
	for i < len(s) {
		c := s[i]
		if c == '\\' && !raw {
			i += 2
			continue
		}
		if len(delim) == 1 && c == '\n' {
			return 0, fmt.Errorf("unterminated string literal %s... inside expression", delim)
		}
		if strings.HasPrefix(s[i:], delim) {
			return i + len(delim), nil
		}
		i++
	}
	return 0, fmt.Errorf("unterminated string literal %s... inside expression, missing closing %s and \"}\"", delim, delim)
}
