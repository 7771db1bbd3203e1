// Package events announces committed document changes: a Feed that code
// subscribes to, and a Repository decorator that publishes one ChangeEvent
// for every create, update and delete of every DocType made through it.
package events

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/framework-m/framework-m/ports"
)

// Feed holds the change subscriptions. It is safe for concurrent use, and the
// zero Feed is ready to use. Subscribing takes a lock and copies the handler
// lists; looking handlers up, which every write does, takes none.
type Feed struct {
	mu sync.Mutex
	// own holds each DocType's handlers (AllDocTypes included), in
	// subscription order; guarded by mu.
	own map[string][]ports.ChangeHandler
	// routes is what writers read: an immutable snapshot rebuilt on every
	// Subscribe.
	routes atomic.Pointer[routes]
	// n keeps caches exact: Watch, Announce and the hub (notices.go).
	n notices
}

// routes maps a DocType to the handlers its changes run: its own, then those
// subscribed to all DocTypes.
type routes struct {
	byDocType map[string][]ports.ChangeHandler
	all       []ports.ChangeHandler
}

// Subscribe registers h for changes of doctype, or of every DocType when
// doctype is ports.AllDocTypes. A change runs the handlers of its DocType in
// the order they subscribed, then those subscribed to all, in theirs.
// Handlers run on the writer's goroutine after the commit and must neither
// block for long nor modify the event's documents. Subscribe panics if h is nil.
func (f *Feed) Subscribe(doctype string, h ports.ChangeHandler) {
	if h == nil {
		panic("events: Subscribe with a nil handler")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.own == nil {
		f.own = map[string][]ports.ChangeHandler{}
	}
	f.own[doctype] = append(f.own[doctype], h)
	all := slices.Clone(f.own[ports.AllDocTypes])
	next := &routes{byDocType: make(map[string][]ports.ChangeHandler, len(f.own)), all: all}
	for dt, hs := range f.own {
		if dt != ports.AllDocTypes {
			next.byDocType[dt] = slices.Concat(hs, all)
		}
	}
	f.routes.Store(next)
}

// Listens reports whether any handler would receive a change of doctype.
func (f *Feed) Listens(doctype string) bool { return len(f.handlers(doctype)) > 0 }

// handlers returns, without allocating, the handlers a change of doctype
// runs (none for a nil Feed). The slice must not be modified.
func (f *Feed) handlers(doctype string) []ports.ChangeHandler {
	if f == nil {
		return nil
	}
	r := f.routes.Load()
	if r == nil {
		return nil
	}
	if hs, ok := r.byDocType[doctype]; ok {
		return hs
	}
	return r.all
}

var _ ports.ChangeFeed = (*Feed)(nil)
