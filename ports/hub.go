package ports

import "context"

// Hub carries small messages between the instances of one deployment: Redis
// pub/sub, PostgreSQL LISTEN/NOTIFY, or one process's memory. Instances use it
// to tell each other of changes their caches hold (ChangeNotice), and to fan
// out what must reach a client connected to another instance.
//
// Delivery is at most once: a message published while a subscription is not
// connected is lost to it, which is why a subscription reports each time it
// starts and stops receiving, so that its owner can stop trusting what it
// cached until it receives again.
type Hub interface {
	// Publish sends payload (at most MaxHubPayload bytes) on topic to every
	// subscription of topic in every instance, the publisher's own included.
	// It returns once the hub has taken the message, or with an error.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe delivers the payloads published on topic to h until ctx ends,
	// then returns nil; it returns an error only when it cannot subscribe at
	// all (a bad topic, say). It reconnects by itself when the connection is
	// lost. h.Connected(true) is called each time the subscription starts
	// receiving (the first time included), h.Connected(false) each time it
	// stops; messages published in between are lost to it. Payloads of one
	// publisher arrive in the order published. h's methods are called from one
	// goroutine and must return quickly.
	Subscribe(ctx context.Context, topic string, h HubHandler) error
}

// HubHandler receives what a Hub subscription delivers.
type HubHandler interface {
	// Receive is one message; the hub does not touch payload afterwards.
	Receive(payload []byte)
	// Connected reports that the subscription started (true) or stopped
	// (false) receiving.
	Connected(ok bool)
}

// MaxHubPayload is the largest payload every Hub carries (PostgreSQL's NOTIFY
// takes just under 8000 bytes).
const MaxHubPayload = 7000
