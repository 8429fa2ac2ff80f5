package cellib

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// ErrOmitted is returned by ToNative when the value itself is omit() or an
// empty optional: the field holding the expression is to be dropped.
var ErrOmitted = errors.New("value omitted")

// omitType is the CEL type of the omit() sentinel.
var omitType = types.NewOpaqueType("kro.omit")

type omitVal struct{}

var omitValue ref.Val = omitVal{}

func (omitVal) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("omit() cannot be converted: %w", ErrOmitted)
}

func (o omitVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return omitType
	}
	return types.NewErr("omit() cannot be converted to %s", t.TypeName())
}

func (omitVal) Equal(ref.Val) ref.Val {
	return types.NewErr("omit() marks a field for removal and cannot be compared")
}

func (omitVal) Type() ref.Type { return omitType }
func (omitVal) Value() any     { return nil }

// IsOmit reports whether an expression returned omit(), meaning the template
// field holding it is to be dropped from the rendered object.
func IsOmit(v ref.Val) bool {
	_, ok := v.(omitVal)
	return ok
}

// ToNative converts a CEL value into the value space of unstructured
// Kubernetes objects: nil, bool, int64, float64, string, []any and
// map[string]any. Bytes become base64 strings (as JSON encodes them),
// timestamps RFC 3339 strings, durations Go duration strings, and values of
// the Kubernetes library types (quantity, IP, CIDR, URL, semver) their string
// form. An optional is its value. omit() or an empty optional inside a list
// or map drops that element or entry; at the top level ToNative returns
// ErrOmitted. Error values are returned as errors.
func ToNative(v ref.Val) (any, error) {
	out, err := toNative(v, 0)
	if err != nil {
		return nil, err
	}
	if out == omitted {
		return nil, ErrOmitted
	}
	return out, nil
}

// omitted marks a dropped value inside toNative.
var omitted = &struct{ byte }{}

const maxNativeDepth = 10000

func toNative(v ref.Val, depth int) (any, error) {
	if depth > maxNativeDepth {
		return nil, fmt.Errorf("value nested deeper than %d levels", maxNativeDepth)
	}
	switch t := v.(type) {
	case nil:
		return nil, errors.New("missing value")
	case *types.Err:
		return nil, t
	case *types.Unknown:
		return nil, errors.New("value is unknown")
	case omitVal:
		return omitted, nil
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(t), nil
	case types.Int:
		return int64(t), nil
	case types.Uint:
		if uint64(t) > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned integer %d does not fit a 64-bit signed integer", uint64(t))
		}
		return int64(t), nil
	case types.Double:
		f := float64(t)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v cannot be represented in JSON", f)
		}
		return f, nil
	case types.String:
		return string(t), nil
	case types.Bytes:
		// Base64, as encoding/json renders []byte (the Kubernetes convention).
		return base64.StdEncoding.EncodeToString([]byte(t)), nil
	case types.Timestamp:
		return t.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return t.String(), nil
	case *types.Optional:
		if !t.HasValue() {
			return omitted, nil
		}
		return toNative(t.GetValue(), depth+1)
	case traits.Mapper:
		out := make(map[string]any, int(sizeOf(t)))
		for it := t.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is a %s, object keys must be strings", k, k.Type().TypeName())
			}
			e, err := toNative(t.Get(k), depth+1)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", string(ks), err)
			}
			if e != omitted {
				out[string(ks)] = e
			}
		}
		return out, nil
	case traits.Lister:
		out := make([]any, 0, int(sizeOf(t)))
		i := 0
		for it := t.Iterator(); it.HasNext() == types.True; i++ {
			e, err := toNative(it.Next(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("index %d: %w", i, err)
			}
			if e != omitted {
				out = append(out, e)
			}
		}
		return out, nil
	}
	if s, ok := v.Value().(fmt.Stringer); ok {
		return s.String(), nil
	}
	if s := v.ConvertToType(types.StringType); !types.IsError(s) {
		if str, ok := s.(types.String); ok {
			return string(str), nil
		}
	}
	return nil, fmt.Errorf("a value of type %s cannot be written to an object", v.Type().TypeName())
}
