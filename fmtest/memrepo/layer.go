package memrepo

// docKey locates the documents of one DocType in one tenant.
type docKey struct{ table, tenant string }

// seriesKey is one naming-series counter: per tenant and prefix, shared by
// every DocType using the prefix (as the SQL series table).
type seriesKey struct{ tenant, prefix string }

// layer is a set of writes over the layer below it: the committed state (no
// parent) or a transaction's own writes. Stored documents are private copies
// that are never changed in place, so layers may share them.
type layer struct {
	parent *layer
	// docs maps a DocType and tenant to its documents by name; in a layer
	// with a parent, a nil document marks a deletion.
	docs   map[docKey]map[string]any
	series map[seriesKey]int64
}

func newLayer(parent *layer) *layer {
	return &layer{parent: parent, docs: map[docKey]map[string]any{}, series: map[seriesKey]int64{}}
}

// get returns document name as this layer sees it.
func (l *layer) get(k docKey, name string) (any, bool) {
	for c := l; c != nil; c = c.parent {
		if d, ok := c.docs[k][name]; ok {
			return d, d != nil
		}
	}
	return nil, false
}

// all returns every document of k this layer sees, by name. The map must not
// be changed.
func (l *layer) all(k docKey) map[string]any {
	if l.parent == nil {
		return l.docs[k]
	}
	out := map[string]any{}
	for name, d := range l.parent.all(k) {
		out[name] = d
	}
	for name, d := range l.docs[k] {
		if d == nil {
			delete(out, name)
		} else {
			out[name] = d
		}
	}
	return out
}

func (l *layer) put(k docKey, name string, doc any) {
	m := l.docs[k]
	if m == nil {
		m = map[string]any{}
		l.docs[k] = m
	}
	m[name] = doc
}

func (l *layer) del(k docKey, name string) {
	if l.parent == nil {
		delete(l.docs[k], name)
		return
	}
	l.put(k, name, nil)
}

// counter returns the current value of a series counter (0 before its first use).
func (l *layer) counter(k seriesKey) int64 {
	for c := l; c != nil; c = c.parent {
		if n, ok := c.series[k]; ok {
			return n
		}
	}
	return 0
}

func (l *layer) setCounter(k seriesKey, n int64) { l.series[k] = n }

// mergeInto applies l's writes to dst.
func (l *layer) mergeInto(dst *layer) {
	for k, docs := range l.docs {
		for name, d := range docs {
			if d == nil {
				dst.del(k, name)
			} else {
				dst.put(k, name, d)
			}
		}
	}
	for k, n := range l.series {
		dst.setCounter(k, n)
	}
}
