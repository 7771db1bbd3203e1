package ports

import "context"

// NotificationMessage tells the instances of a deployment that a user has a
// new notification, so that each pushes it to the user's streams it holds.
type NotificationMessage struct {
	// Origin identifies the publishing instance, so that it can skip its own
	// messages (it delivers those to its streams directly).
	Origin string
	// TenantID and UserID are whose notification it is.
	TenantID string
	UserID   string
	// ID is the notification's name (a UUIDv7: ids sort in creation order).
	ID string
	// Frame is the notification as streams send it (JSON), or nil when it
	// was too large to carry: receivers then load the notification by ID.
	Frame []byte
}

// NotificationHub fans new notifications out to every instance holding
// streams: in one process (one instance), or through a shared engine (Redis
// pub/sub, PostgreSQL LISTEN/NOTIFY) so that a notification created on
// instance A reaches a stream on instance B.
//
// Delivery is at most once, like the Hub's: a message published while a
// subscription is down is lost to it, which Connected reports so that its
// owner can tell its clients to catch up (streams resume with ?since=).
type NotificationHub interface {
	// Publish sends m to every subscription, this instance's included. It
	// returns once the hub has taken the message, or with an error.
	Publish(ctx context.Context, m NotificationMessage) error
	// Subscribe delivers every published message to h until ctx ends, then
	// returns nil; it returns an error only when it cannot subscribe at
	// all. It reconnects by itself; h.Connected(true) is called each time
	// it starts receiving, h.Connected(false) each time it stops. h's
	// methods are called one at a time and must return quickly.
	Subscribe(ctx context.Context, h NotificationHandler) error
}

// NotificationHandler receives what a NotificationHub subscription delivers.
type NotificationHandler interface {
	// Deliver is one message; it must not block.
	Deliver(m NotificationMessage)
	// Connected reports that the subscription started (true) or stopped
	// (false) receiving.
	Connected(ok bool)
}
