// Package notify is in-app notifications: the Notification documents of
// each user (list, mark read, delete), Notify for app code, and the streams
// that push each new notification to its user's open connections
// (WebSockets, in adapters/web) on every instance of a deployment.
//
// A notification is pushed when its document is created, whoever creates it
// (Notify, the resource API, a Repository call): the service subscribes to
// the change feed and, after each commit, hands the notification to this
// instance's streams of that tenant and user and, through the
// NotificationHub, to the other instances'. Each stream has a bounded queue
// and writes on a goroutine of its own while it has something to write, so a
// slow client is dropped, never waited for.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Options are the rules of notification streams ([notifications]).
type Options struct {
	// MaxConnectionsPerUser bounds one user's open streams on this instance
	// (default 5).
	MaxConnectionsPerUser int
	// PingInterval is how often a stream is pinged (default 30 s).
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its answer before the
	// stream is dropped (default: PingInterval, at most 10 s).
	PongTimeout time.Duration
	// RecheckInterval is how often a stream's credentials are
	// authenticated again (default 5 s).
	RecheckInterval time.Duration
	// SendBuffer is how many notifications may wait for a client before it
	// is dropped as too slow (default 64).
	SendBuffer int
	// WriteTimeout bounds one write to a client (default 10 s).
	WriteTimeout time.Duration
	// ReplayLimit bounds what a stream opened with since= is sent of what
	// it missed (default 100, the newest).
	ReplayLimit int
	// Logger receives what streams and the hub do.
	Logger *slog.Logger
	// Meter receives fm_websocket_connections (streams open on this
	// instance), fm_websocket_rejected_total{reason} and
	// fm_websocket_closed_total{reason} (nil: none).
	Meter ports.Meter
}

func (o *Options) defaults() {
	if o.MaxConnectionsPerUser <= 0 {
		o.MaxConnectionsPerUser = 5
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = min(o.PingInterval, 10*time.Second)
	}
	if o.RecheckInterval <= 0 {
		o.RecheckInterval = 5 * time.Second
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 64
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReplayLimit <= 0 {
		o.ReplayLimit = 100
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// publishQueue bounds the messages waiting for the hub.
const publishQueue = 4096

// Service is the notification rules: the documents through the resource
// service (permissions, row-level security on user_id), and the streams of
// this instance.
type Service struct {
	res    *resource.Service
	repo   ports.Repository
	dt     *doctype.DocType
	hub    ports.NotificationHub
	opts   Options
	log    *slog.Logger
	origin string

	pubq    chan ports.NotificationMessage
	streams streams
	link    hubLink
}

// New returns the notification service over res and repo (the repository
// res writes through, emitting change events to changes), pushing through
// hub (nil: this instance only). It subscribes to the creates of
// Notification documents and guards their updates through res: after
// creation only "read" changes. Run it (the App does) for streams to be
// kept alive, rechecked and fed by other instances.
func New(res *resource.Service, repo ports.Repository, changes ports.ChangeFeed, hub ports.NotificationHub, opts Options) (*Service, error) {
	opts.defaults()
	dt, ok := res.Registry().Get(doctypes.NotificationDocType)
	if !ok {
		return nil, errors.New("notify: the Notification DocType is not registered")
	}
	s := &Service{res: res, repo: repo, dt: dt, hub: hub, opts: opts, log: opts.Logger, origin: randomID(),
		pubq: make(chan ports.NotificationMessage, publishQueue)}
	s.streams.init(newMetrics(opts.Meter))
	s.link.s = s
	res.Guard(doctypes.NotificationDocType, s.guard)
	if changes != nil {
		changes.Subscribe(doctypes.NotificationDocType, s.changed)
	}
	return s, nil
}

// Options returns the service's rules.
func (s *Service) Options() Options { return s.opts }

// Notification is what Notify sends.
type Notification struct {
	Subject string
	Message string
	// Type is one of doctypes.NotificationTypes (default info).
	Type string
	// DocType and DocumentID name the document it is about, if any.
	DocType    string
	DocumentID string
	// FromUser is who caused it (default: the principal of ctx, unless it
	// is the system).
	FromUser string
	Metadata map[string]any
}

// Notify stores a notification for userID in the tenant of ctx and, once
// it commits, pushes it to the user's streams on every instance (the plan's
// push_notification). It is for app code: it checks the notification, not
// the caller's permissions (the resource API lets admins create them).
// Inside a transaction (Repository.InTx) it is pushed when that commits.
func (s *Service) Notify(ctx context.Context, userID string, n Notification) (*doctypes.Notification, error) {
	if ports.TenantIDFrom(ctx) == "" {
		return nil, core.ErrNoTenant
	}
	u := ports.UserFrom(ctx)
	if u == nil {
		ctx = ports.WithUser(ctx, &ports.SystemUser)
	}
	doc := s.dt.New().(*doctypes.Notification)
	doc.UserID, doc.Subject, doc.Message = userID, n.Subject, n.Message
	if n.Type != "" {
		doc.NotificationType = n.Type
	}
	doc.Doctype, doc.DocumentID, doc.FromUser = n.DocType, n.DocumentID, n.FromUser
	if doc.FromUser == "" && u != nil && !u.IsSystemUser() {
		doc.FromUser = u.ID
	}
	if len(n.Metadata) > 0 {
		doc.Metadata = doctype.JSONMap(n.Metadata)
	}
	if err := s.check(doc); err != nil {
		return nil, err
	}
	if err := s.repo.Create(ctx, s.dt.Name, doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// check validates doc as a client's would be: its own rules and the
// lengths of its fields.
func (s *Service) check(doc *doctypes.Notification) error {
	verr := &core.ValidationError{}
	if err := doc.Validate(); err != nil {
		var ve *core.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	rv := reflect.ValueOf(doc).Elem()
	for _, f := range s.dt.Fields() {
		if f.System || f.MaxLength == 0 || f.Type.Kind() != reflect.String {
			continue
		}
		if utf8.RuneCountInString(rv.FieldByIndex(f.Index).String()) > f.MaxLength {
			verr.Add(f.Name, fmt.Sprintf("must be at most %d characters", f.MaxLength))
		}
	}
	return verr.Err()
}

// guard keeps a notification as it was created: updates through the
// resource service change "read" only.
func (s *Service) guard(ctx context.Context, action ports.Action, before, after any) error {
	if action != ports.ActionWrite {
		return nil
	}
	if u := ports.UserFrom(ctx); u != nil && u.IsSystemUser() {
		return nil
	}
	b, ok1 := before.(*doctypes.Notification)
	a, ok2 := after.(*doctypes.Notification)
	if !ok1 || !ok2 {
		return nil
	}
	x, y := *b, *a
	x.Base, y.Base = doctype.Base{}, doctype.Base{}
	x.Read, y.Read = false, false
	if !reflect.DeepEqual(x, y) && !(len(x.Metadata) == 0 && len(y.Metadata) == 0 && sameButMetadata(x, y)) {
		return core.Public(core.ErrValidation, "a notification cannot be changed, only marked read or unread")
	}
	return nil
}

// sameButMetadata compares x and y with their (empty) metadata left out: nil
// and {} are the same.
func sameButMetadata(x, y doctypes.Notification) bool {
	x.Metadata, y.Metadata = nil, nil
	return reflect.DeepEqual(x, y)
}

// principal returns the caller, or an unauthorized error.
func principal(ctx context.Context) (*ports.UserContext, error) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	return u, nil
}

// ListParams selects a page of the caller's notifications.
type ListParams struct {
	// Read, when set, keeps the read (true) or unread (false) ones only.
	Read *bool
	// Limit is the page size, 1…resource.MaxLimit (0: resource.DefaultLimit).
	Limit  int
	Offset int
}

// Page is a page of the caller's notifications, newest first.
type Page struct {
	Items []*doctypes.Notification
	// Total counts the notifications matching the filter; Unread counts
	// the caller's unread ones.
	Total  int64
	Unread int64
}

// mine is the filter of the caller's own notifications: what row-level
// security gives users, and what keeps admins (who may read all) to theirs.
func mine(u *ports.UserContext) ports.Filter {
	return ports.Filter{Field: "user_id", Op: ports.OpEq, Value: u.ID}
}

// List returns a page of the caller's notifications, newest first, with the
// number of those matching and of the unread ones.
func (s *Service) List(ctx context.Context, p ListParams) (Page, error) {
	u, err := principal(ctx)
	if err != nil {
		return Page{}, err
	}
	filters := []ports.Filter{mine(u)}
	if p.Read != nil {
		filters = append(filters, ports.Filter{Field: "read", Op: ports.OpEq, Value: *p.Read})
	}
	order := []ports.Order{{Field: doctype.FieldName, Desc: true}}
	res, err := s.res.List(ctx, s.dt.Name, resource.ListParams{Filters: filters, Orders: order, Limit: p.Limit, Offset: p.Offset})
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: make([]*doctypes.Notification, 0, len(res.Items)), Total: res.Total}
	for _, it := range res.Items {
		page.Items = append(page.Items, it.(*doctypes.Notification))
	}
	if p.Read != nil && !*p.Read {
		page.Unread = res.Total
		return page, nil
	}
	unread, err := s.res.List(ctx, s.dt.Name, resource.ListParams{
		Filters: []ports.Filter{mine(u), {Field: "read", Op: ports.OpEq, Value: false}},
		Fields:  []string{doctype.FieldName}, Limit: 1,
	})
	if err != nil {
		return Page{}, err
	}
	page.Unread = unread.Total
	return page, nil
}

// CheckID validates a notification id as the API receives it: a UUID.
func CheckID(field, id string) error {
	if !isUUID(id) {
		return core.Invalid(field, "must be a notification id (a lower-case UUID)")
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			// Lower case only, as ids are made: an upper-case "since" would
			// compare (byte-wise, as SQLite does) before ids it follows.
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// own returns the caller's notification id; another user's (admins may
// read those through the resource API) is not found here.
func (s *Service) own(ctx context.Context, id string) (*doctypes.Notification, error) {
	u, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckID("id", id); err != nil {
		return nil, err
	}
	doc, err := s.res.Get(ctx, s.dt.Name, id)
	if err != nil {
		return nil, err
	}
	n := doc.(*doctypes.Notification)
	if n.UserID != u.ID {
		return nil, core.Publicf(core.ErrNotFound, "%s %q not found", s.dt.Name, id)
	}
	return n, nil
}

// MarkRead marks the caller's notification id read and returns it.
func (s *Service) MarkRead(ctx context.Context, id string) (*doctypes.Notification, error) {
	n, err := s.own(ctx, id)
	if err != nil {
		return nil, err
	}
	if n.Read {
		return n, nil
	}
	doc, err := s.res.Update(ctx, s.dt.Name, id, []byte(`{"read":true}`), nil)
	if err != nil {
		return nil, err
	}
	return doc.(*doctypes.Notification), nil
}

// readAllPage is how many notifications ReadAll marks per transaction, and
// readAllMax the most it marks in one call.
const (
	readAllPage = 200
	readAllMax  = 100_000
)

// ReadAll marks every unread notification of the caller read and returns
// how many it marked.
func (s *Service) ReadAll(ctx context.Context) (int, error) {
	u, err := principal(ctx)
	if err != nil {
		return 0, err
	}
	if ok, err := s.res.Can(ctx, s.dt, ports.ActionWrite, nil); err != nil {
		return 0, err
	} else if !ok {
		return 0, core.Publicf(core.ErrForbidden, "not permitted to write %s", s.dt.Name)
	}
	unread := []ports.Filter{mine(u), {Field: "read", Op: ports.OpEq, Value: false}}
	order := []ports.Order{{Field: doctype.FieldName}}
	marked, after := 0, ""
	for marked < readAllMax {
		filters := unread
		if after != "" {
			filters = append(slices.Clone(unread), ports.Filter{Field: doctype.FieldName, Op: ports.OpGt, Value: after})
		}
		res, err := s.res.List(ctx, s.dt.Name, resource.ListParams{Filters: filters, Orders: order, Limit: readAllPage, SkipTotal: true})
		if err != nil {
			return marked, err
		}
		if len(res.Items) == 0 {
			break
		}
		err = s.repo.InTx(ctx, func(ctx context.Context) error {
			for _, it := range res.Items {
				n := it.(*doctypes.Notification)
				after = n.Name
				if ok, err := s.res.Can(ctx, s.dt, ports.ActionWrite, n); err != nil || !ok {
					continue
				}
				n.Read = true
				if err := s.repo.Update(ctx, s.dt.Name, n); err != nil {
					if errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrNotFound) {
						continue // changed or deleted meanwhile
					}
					return err
				}
				marked++
			}
			return nil
		})
		if err != nil {
			return marked, err
		}
		if len(res.Items) < readAllPage {
			break
		}
	}
	return marked, nil
}

// Delete deletes the caller's notification id.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.own(ctx, id); err != nil {
		return err
	}
	return s.res.Delete(ctx, s.dt.Name, id)
}

// Since returns the caller's notifications created after the one named
// since (ids are UUIDv7s: time-ordered), oldest first: the newest limit of
// them, and whether there were more.
func (s *Service) Since(ctx context.Context, since string, limit int) ([]*doctypes.Notification, bool, error) {
	u, err := principal(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := CheckID("since", since); err != nil {
		return nil, false, err
	}
	limit = min(max(limit, 1), resource.MaxLimit-1)
	res, err := s.res.List(ctx, s.dt.Name, resource.ListParams{
		Filters: []ports.Filter{mine(u), {Field: doctype.FieldName, Op: ports.OpGt, Value: since}},
		Orders:  []ports.Order{{Field: doctype.FieldName, Desc: true}},
		Limit:   limit + 1, SkipTotal: true,
	})
	if err != nil {
		return nil, false, err
	}
	more := len(res.Items) > limit
	if more {
		res.Items = res.Items[:limit]
	}
	out := make([]*doctypes.Notification, len(res.Items))
	for i, it := range res.Items {
		out[len(out)-1-i] = it.(*doctypes.Notification)
	}
	return out, more, nil
}

// Marshal returns n as the API shows it.
func (s *Service) Marshal(n *doctypes.Notification) ([]byte, error) { return s.dt.MarshalDoc(n, nil) }

// Frame is n as streams send it: {"type": "notification", "data": {…}},
// data as the API shows the document.
func (s *Service) Frame(n *doctypes.Notification) ([]byte, error) {
	raw, err := s.Marshal(n)
	if err != nil {
		return nil, err
	}
	return wrap("notification", raw), nil
}

func wrap(typ string, data []byte) []byte {
	out := make([]byte, 0, len(data)+len(typ)+20)
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, `","data":`...)
	out = append(out, data...)
	return append(out, '}')
}

// changed pushes each committed create of a Notification: to this
// instance's streams at once, to the others' through the hub.
func (s *Service) changed(ctx context.Context, ev ports.ChangeEvent) {
	if ev.Action != ports.ActionCreate {
		return
	}
	n, ok := ev.After.(*doctypes.Notification)
	if !ok {
		return
	}
	frame, err := s.Frame(n)
	if err != nil {
		s.log.ErrorContext(ctx, "cannot encode a notification for its streams", "err", err)
		return
	}
	m := ports.NotificationMessage{Origin: s.origin, TenantID: ev.TenantID, UserID: n.UserID, ID: n.Name, Frame: frame}
	s.deliver(m)
	if s.hub == nil {
		return
	}
	select {
	case s.pubq <- m:
	default:
		s.log.WarnContext(ctx, "notifications are backing up for the hub; one is pushed on this instance only", "user", n.UserID)
	}
}

// publishLoop sends queued messages to the hub until ctx ends, retrying a
// message the hub refuses a few times.
func (s *Service) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.pubq:
			s.publish(ctx, m)
		}
	}
}

func (s *Service) publish(ctx context.Context, m ports.NotificationMessage) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.hub.Publish(pctx, m)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 3 {
			s.log.Error("a notification did not reach the other instances; their streams catch up when they reconnect", "user", m.UserID, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// Run keeps this instance's streams going until ctx ends: it receives the
// other instances' notifications through the hub, publishes this one's,
// pings and rechecks every stream, and at the end closes them all.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if s.hub != nil {
			var wg sync.WaitGroup
			wg.Go(func() { s.publishLoop(ctx) }) // waited for: the hub closes after Run
			s.subscribe(ctx)
			wg.Wait()
		}
	}()
	s.keepAlive(ctx)
	<-done
	s.streams.shutdown()
}

// subscribe receives the hub's messages until ctx ends.
func (s *Service) subscribe(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.hub.Subscribe(ctx, &s.link)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Error("cannot subscribe to notifications of other instances", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// Synced reports whether the hub's subscription receives (always true
// without a hub).
func (s *Service) Synced() bool { return s.hub == nil || s.link.up.Load() }

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
