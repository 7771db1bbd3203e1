package cedar

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
)

// Annotations read by the adapter.
const (
	// AnnotationID names a policy (Cedar's usual convention).
	AnnotationID = "id"
	// AnnotationRLS lists the fields that must equal the principal's id.
	AnnotationRLS = "rls"
	// AnnotationRLSAttr lists field=attribute pairs: the field must equal the
	// principal's attribute.
	AnnotationRLSAttr = "rls_attr"
)

// source is one policy document.
type source struct {
	name string
	text []byte
}

// binding is one row-level security condition: field equals the principal's
// attr ("id" is the principal's id).
type binding struct {
	field, attr string
}

// policy is a parsed policy with its id and row-level security annotations.
type policy struct {
	id  cedar.PolicyID
	p   *cedar.Policy
	rls []binding
}

// policyList is a cedar.PolicyIterator that keeps load order, so decisions
// list their determining policies in the order the files define them.
type policyList []policy

// All yields the policies in load order.
func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, p := range l {
			if !yield(p.id, p.p) {
				return
			}
		}
	}
}

// readFiles reads every path, expanding directories to their *.cedar files.
func (a *Adapter) readFiles(paths []string) ([]source, error) {
	var srcs []source
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("cedar: policy file: %w", err)
		}
		files := []string{path}
		if info.IsDir() {
			entries, err := os.ReadDir(path)
			if err != nil {
				return nil, fmt.Errorf("cedar: policy directory: %w", err)
			}
			files = files[:0]
			for _, e := range entries { // ReadDir sorts by name
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".cedar") {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
			if len(files) == 0 {
				a.log.Warn("cedar: policy directory holds no .cedar files", "path", path)
			}
		}
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("cedar: policy file: %w", err)
			}
			srcs = append(srcs, source{name: f, text: text})
		}
	}
	return srcs, nil
}

// load parses the sources and indexes their policies; configured names what
// was asked for, in the error for no policies at all.
func (a *Adapter) load(srcs []source, configured []string) error {
	ids := map[cedar.PolicyID]string{}
	for _, src := range srcs {
		list, err := cedar.NewPolicyListFromBytes(src.name, src.text)
		if err != nil {
			return fmt.Errorf("cedar: parse %s: %w", src.name, err)
		}
		for i, p := range list {
			pol, err := newPolicy(src.name, i, p)
			if err != nil {
				return err
			}
			if prev, dup := ids[pol.id]; dup {
				return fmt.Errorf("cedar: %s: policy id %q is already used in %s", where(p), pol.id, prev)
			}
			ids[pol.id] = where(p)
			a.all = append(a.all, pol)
			switch {
			case p.Effect() == cedar.Forbid:
				a.forbids = append(a.forbids, pol)
			case len(pol.rls) > 0:
				a.grants = append(a.grants, pol)
			}
		}
	}
	if len(a.all) == 0 {
		return fmt.Errorf("cedar: no policies in %s", strings.Join(configured, ", "))
	}
	a.log.Debug("cedar: policies loaded", "policies", len(a.all), "forbid", len(a.forbids), "row_level", len(a.grants), "files", len(srcs))
	return nil
}

// newPolicy names policy i of file and reads its annotations.
func newPolicy(file string, i int, p *cedar.Policy) (policy, error) {
	pol := policy{id: cedar.PolicyID(fmt.Sprintf("%s:policy%d", file, i)), p: p}
	ann := p.Annotations()
	if id, ok := ann[AnnotationID]; ok {
		if strings.TrimSpace(string(id)) == "" {
			return pol, fmt.Errorf("cedar: %s: empty @id", where(p))
		}
		pol.id = cedar.PolicyID(id)
	}
	if v, ok := ann[AnnotationRLS]; ok {
		fields, err := list(string(v))
		if err != nil {
			return pol, fmt.Errorf("cedar: %s: @%s(%q): %w", where(p), AnnotationRLS, v, err)
		}
		for _, f := range fields {
			pol.rls = append(pol.rls, binding{field: f, attr: "id"})
		}
	}
	if v, ok := ann[AnnotationRLSAttr]; ok {
		pairs, err := list(string(v))
		if err != nil {
			return pol, fmt.Errorf("cedar: %s: @%s(%q): %w", where(p), AnnotationRLSAttr, v, err)
		}
		for _, pair := range pairs {
			field, attr, ok := strings.Cut(pair, "=")
			field, attr = strings.TrimSpace(field), strings.TrimSpace(attr)
			if !ok || field == "" || attr == "" {
				return pol, fmt.Errorf("cedar: %s: @%s(%q): want \"field=attribute\"", where(p), AnnotationRLSAttr, v)
			}
			pol.rls = append(pol.rls, binding{field: field, attr: attr})
		}
	}
	if len(pol.rls) > 0 && p.Effect() == cedar.Forbid {
		return pol, fmt.Errorf("cedar: %s: @%s and @%s belong on permit policies, not forbid", where(p), AnnotationRLS, AnnotationRLSAttr)
	}
	if slices.ContainsFunc(pol.rls, func(b binding) bool { return strings.ContainsAny(b.field, " \t") }) {
		return pol, fmt.Errorf("cedar: %s: row-level security field names hold no spaces", where(p))
	}
	return pol, nil
}

// list splits a comma-separated annotation value.
func list(v string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, errors.New("empty entry")
		}
		out = append(out, part)
	}
	return out, nil
}

// where is a policy's file:line:column.
func where(p *cedar.Policy) string {
	pos := p.Position()
	return fmt.Sprintf("%s:%d:%d", pos.Filename, pos.Line, pos.Column)
}
