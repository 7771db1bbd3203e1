package citadel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/framework-m/framework-m/ports"
)

// parseFilters reads "filters": absent or null (every row), a list of filters
// (ANDed), or one {"any": [[…], …]} group.
func parseFilters(raw json.RawMessage) ([]ports.Filter, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		fs, err := parseFilterList(raw, 0)
		if err != nil || len(fs) == 0 {
			return nil, err
		}
		return fs, nil
	case '{':
		f, err := parseFilter(raw, 0)
		if err != nil {
			return nil, err
		}
		if !f.IsGroup() {
			return nil, errors.New(`an object must be an {"any": [...]} group; a list of filters must be an array`)
		}
		return []ports.Filter{f}, nil
	}
	return nil, errors.New("neither a list of filters nor an {\"any\": …} group")
}

func parseFilterList(raw json.RawMessage, depth int) ([]ports.Filter, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	fs := make([]ports.Filter, 0, len(items))
	for i, item := range items {
		f, err := parseFilter(item, depth)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// wireFilter is one filter or group as the service writes it.
type wireFilter struct {
	Field *string           `json:"field"`
	Op    *string           `json:"op"`
	Value json.RawMessage   `json:"value"`
	Any   []json.RawMessage `json:"any"`
}

func parseFilter(raw json.RawMessage, depth int) (ports.Filter, error) {
	var w wireFilter
	if err := json.Unmarshal(raw, &w); err != nil {
		return ports.Filter{}, err
	}
	if w.Any != nil {
		if w.Field != nil || w.Op != nil || w.Value != nil {
			return ports.Filter{}, errors.New(`a filter is either {"field", "op", "value"} or {"any": …}, not both`)
		}
		if depth >= maxFilterDepth {
			return ports.Filter{}, errors.New("groups nested too deep")
		}
		groups := make([][]ports.Filter, 0, len(w.Any))
		for i, g := range w.Any {
			if b := bytes.TrimSpace(g); len(b) == 0 || b[0] != '[' {
				return ports.Filter{}, fmt.Errorf("any[%d]: a group must be a list of filters", i)
			}
			fs, err := parseFilterList(g, depth+1)
			if err != nil {
				return ports.Filter{}, fmt.Errorf("any[%d]: %w", i, err)
			}
			groups = append(groups, fs)
		}
		return ports.Filter{Any: groups}, nil
	}
	if w.Field == nil || !validField(*w.Field) {
		return ports.Filter{}, errors.New(`"field" must name a field`)
	}
	if w.Op == nil {
		return ports.Filter{}, errors.New(`"op" is missing`)
	}
	if !ports.Operator(*w.Op).Valid() {
		return ports.Filter{}, fmt.Errorf("unknown operator %q", *w.Op)
	}
	f := ports.Filter{Field: *w.Field, Op: ports.Operator(*w.Op)}
	switch f.Op {
	case ports.OpIsNull, ports.OpIsNotNull:
		return f, nil
	case ports.OpIn, ports.OpNotIn:
		var list []any
		if err := json.Unmarshal(w.Value, &list); err != nil || list == nil {
			return ports.Filter{}, fmt.Errorf("%q needs a list value", f.Op)
		}
		for _, v := range list {
			if !scalar(v) {
				return ports.Filter{}, fmt.Errorf("%q needs a list of strings, numbers or booleans", f.Op)
			}
		}
		f.Value = list
	default:
		var v any
		if err := json.Unmarshal(w.Value, &v); err != nil || !scalar(v) {
			return ports.Filter{}, fmt.Errorf("%q needs a string, number or boolean value", f.Op)
		}
		if _, ok := v.(string); f.Op == ports.OpLike && !ok {
			return ports.Filter{}, fmt.Errorf("%q needs a string value", f.Op)
		}
		f.Value = v
	}
	return f, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, float64, bool:
		return true
	}
	return false
}

// validField accepts JSON field names made of letters, digits and underscores.
func validField(s string) bool {
	if s == "" || len(s) > 140 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
