package ports

import (
	"context"
	"time"
)

// RequestInfo describes the HTTP request a piece of work runs for: the web
// adapter puts it in every request's context, and change events carry it.
type RequestInfo struct {
	// ID is the request id (X-Request-ID).
	ID string `json:"request_id,omitempty"`
	// ClientIP is the client address (the direct peer, or what a trusted proxy forwarded).
	ClientIP string `json:"ip_address,omitempty"`
	// UserAgent is the client's User-Agent header.
	UserAgent string `json:"user_agent,omitempty"`
}

type requestInfoKey struct{}

// WithRequestInfo returns a context carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the RequestInfo carried by ctx (zero outside a request).
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// ChangeEvent is one committed create, update or delete of a document of any
// DocType, framework DocTypes included.
type ChangeEvent struct {
	// DocType and Name identify the document.
	DocType string
	Name    string
	// Action is ActionCreate, ActionWrite (update) or ActionDelete.
	Action Action
	// Before is the document as it was before the change (nil on create);
	// After is the document as written (nil on delete). Both are pointers to
	// the DocType's struct; subscribers must not modify them.
	Before, After any
	// TenantID is the tenant the document belongs to.
	TenantID string
	// Principal is who made the change (nil when the context had none).
	Principal *UserContext
	// Request is the request the change was made in (zero outside one).
	Request RequestInfo
	// At is when the change was made.
	At time.Time
}

// ChangeHandler receives change events after their transaction commits. It
// runs on the writer's goroutine, so it must be quick (hand slow work to a
// queue); ctx carries the writer's tenant, principal and request, without the
// finished transaction.
type ChangeHandler func(ctx context.Context, ev ChangeEvent)

// AllDocTypes subscribes a ChangeHandler to the changes of every DocType.
const AllDocTypes = "*"

// ChangeNotice says that documents changed, not how: what the instances
// sharing one database tell each other (through the Hub) so that what they
// cache stays exact.
type ChangeNotice struct {
	// DocType is the DocType (or the name of another kind of record a cache
	// holds, such as sessions kept outside the database).
	DocType string `json:"doctype"`
	// TenantID is the tenant of the changed records; "" means every tenant.
	TenantID string `json:"tenant_id,omitempty"`
	// Name is the changed record; "" means every record of DocType in TenantID.
	Name string `json:"name,omitempty"`
	// Action is what happened to Name, when known ("" otherwise).
	Action Action `json:"action,omitempty"`
}

// NoticeHandler receives the ChangeNotices of one DocType. It must be quick:
// it runs on the writer's goroutine for this instance's changes, and on the
// hub's for others'.
type NoticeHandler func(n ChangeNotice)

// ChangeFeed lets code subscribe to committed document changes.
type ChangeFeed interface {
	// Subscribe registers h for changes of doctype (AllDocTypes for every
	// DocType). Handlers of one DocType run in the order they subscribed, before
	// those subscribed to all.
	Subscribe(doctype string, h ChangeHandler)
	// Watch registers h for the ChangeNotices of doctype: this instance's
	// committed changes and announced ones, and, through the Hub, those of
	// every instance sharing the database. What a cache needs to stay exact.
	Watch(doctype string, h NoticeHandler)
	// Synced reports whether Watch handlers hear of every change, others'
	// included: false while the Hub's subscription is down, when notices may
	// be lost. A cache must not answer from memory for longer than a moment
	// (events.UnsyncedMaxAge) while it is false.
	Synced() bool
}
