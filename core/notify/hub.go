package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/framework-m/framework-m/ports"
)

// Topic is the Hub topic notifications travel on (the hub's own prefix, such
// as [hub.redis] channel_prefix, keeps deployments apart).
const Topic = "notifications"

// LocalHub is the in-process NotificationHub: what one instance uses, and
// what several services in one process share in tests. Publish hands the
// message to every subscription at once, one subscription at a time, on the
// publisher's goroutine (handlers must not block).
type LocalHub struct {
	mu   sync.Mutex
	subs map[*localSub]struct{}
}

type localSub struct{ h ports.NotificationHandler }

// NewLocalHub returns an in-process hub with no subscriptions.
func NewLocalHub() *LocalHub { return &LocalHub{subs: map[*localSub]struct{}{}} }

// Publish delivers m to every subscription.
func (l *LocalHub) Publish(ctx context.Context, m ports.NotificationMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs {
		s.h.Deliver(m)
	}
	return nil
}

// Subscribe delivers to h until ctx ends.
func (l *LocalHub) Subscribe(ctx context.Context, h ports.NotificationHandler) error {
	if ctx.Err() != nil {
		return nil
	}
	s := &localSub{h: h}
	l.mu.Lock()
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	h.Connected(true)
	<-ctx.Done()
	l.mu.Lock()
	delete(l.subs, s)
	l.mu.Unlock()
	h.Connected(false)
	return nil
}

// SharedHub is the NotificationHub of several instances, carried by a
// ports.Hub (Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or an in-process
// memory hub shared by instances in one process) on Topic. A message's
// frame travels with it when the whole fits in ports.MaxHubPayload;
// otherwise only its id does, and receivers load the notification.
type SharedHub struct {
	hub   ports.Hub
	topic string
}

// NewSharedHub returns the NotificationHub over hub, on Topic.
func NewSharedHub(hub ports.Hub) *SharedHub { return &SharedHub{hub: hub, topic: Topic} }

// wireMessage is a NotificationMessage on the hub: the frame as JSON, not
// base64.
type wireMessage struct {
	Origin   string          `json:"o,omitempty"`
	TenantID string          `json:"t"`
	UserID   string          `json:"u"`
	ID       string          `json:"id"`
	Frame    json.RawMessage `json:"f,omitempty"`
}

// encode returns the hub payload of m: with its frame when it fits.
func encode(m ports.NotificationMessage) ([]byte, error) {
	w := wireMessage{Origin: m.Origin, TenantID: m.TenantID, UserID: m.UserID, ID: m.ID}
	if json.Valid(m.Frame) {
		w.Frame = m.Frame
	}
	p, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(p) > ports.MaxHubPayload && w.Frame != nil {
		w.Frame = nil
		p, err = json.Marshal(w)
	}
	if err == nil && len(p) > ports.MaxHubPayload {
		return nil, fmt.Errorf("notification message of %d bytes without its frame (tenant and user ids too long)", len(p))
	}
	return p, err
}

// Publish sends m to every instance's subscription.
func (s *SharedHub) Publish(ctx context.Context, m ports.NotificationMessage) error {
	p, err := encode(m)
	if err != nil {
		return err
	}
	return s.hub.Publish(ctx, s.topic, p)
}

// Subscribe delivers every instance's messages to h until ctx ends.
func (s *SharedHub) Subscribe(ctx context.Context, h ports.NotificationHandler) error {
	return s.hub.Subscribe(ctx, s.topic, hubReceiver{h})
}

// hubReceiver decodes the hub's payloads for a NotificationHandler.
type hubReceiver struct{ h ports.NotificationHandler }

func (r hubReceiver) Receive(payload []byte) {
	var w wireMessage
	if err := json.Unmarshal(payload, &w); err != nil || w.TenantID == "" || w.UserID == "" || w.ID == "" {
		return // not a notification message: ignored
	}
	m := ports.NotificationMessage{Origin: w.Origin, TenantID: w.TenantID, UserID: w.UserID, ID: w.ID}
	if len(w.Frame) > 0 {
		m.Frame = w.Frame
	}
	r.h.Deliver(m)
}

func (r hubReceiver) Connected(ok bool) { r.h.Connected(ok) }

var (
	_ ports.NotificationHub = (*LocalHub)(nil)
	_ ports.NotificationHub = (*SharedHub)(nil)
)
