package expr

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// rowMap is the CEL map row: header name to cell. It reads the Input's
// Header and Record in place instead of building a map for every row.
type rowMap struct {
	in *Input
}

var _ traits.Mapper = (*rowMap)(nil)

// cell returns the cell of the first column with the name.
func (m *rowMap) cell(name string) (string, bool) {
	for i, h := range m.in.Header {
		if h == name {
			if i < len(m.in.Record) {
				return m.in.Record[i], true
			}
			return "", true
		}
	}
	return "", false
}

// missingColumn is the error for a column name the row does not have.
func missingColumn(name string) error {
	return fmt.Errorf("no column %q in the file", name)
}

// missingPosition is the error for an index of cols the row does not have;
// index is the index as written in the message.
func missingPosition(in *Input, index string) error {
	if len(in.Record) == 0 {
		return fmt.Errorf("no column %s in the file: this row has no columns", index)
	}
	return fmt.Errorf("no column %s in the file: this row has %d columns, cols[0] to cols[%d]", index, len(in.Record), len(in.Record)-1)
}

// names returns the header names without repeats, in file order.
func (m *rowMap) names() []string {
	seen := make(map[string]bool, len(m.in.Header))
	out := make([]string, 0, len(m.in.Header))
	for _, h := range m.in.Header {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// native builds the row as a Go map.
func (m *rowMap) native() map[string]string {
	out := make(map[string]string, len(m.in.Header))
	for _, h := range m.names() {
		out[h], _ = m.cell(h)
	}
	return out
}

// Find implements traits.Mapper.
func (m *rowMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	v, ok := m.cell(string(k))
	if !ok {
		return nil, false
	}
	return types.String(v), true
}

// Get implements traits.Indexer.
func (m *rowMap) Get(key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.NewErr("no column %s in the file", quoteKey(key))
}

// Contains implements traits.Container.
func (m *rowMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (m *rowMap) Size() ref.Val { return types.Int(len(m.names())) }

// Iterator implements traits.Iterable: it yields the header names.
func (m *rowMap) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, m.names()).Iterator()
}

// ConvertToNative implements ref.Val.
func (m *rowMap) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return types.NewStringStringMap(types.DefaultTypeAdapter, m.native()).ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (m *rowMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t.TypeName())
}

// Equal implements ref.Val.
func (m *rowMap) Equal(other ref.Val) ref.Val {
	return types.NewStringStringMap(types.DefaultTypeAdapter, m.native()).Equal(other)
}

// Type implements ref.Val.
func (m *rowMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *rowMap) Value() any { return m.native() }

// quoteKey writes a map key for an error message.
func quoteKey(key ref.Val) string {
	if s, ok := key.(types.String); ok {
		return fmt.Sprintf("%q", string(s))
	}
	return fmt.Sprint(key)
}
