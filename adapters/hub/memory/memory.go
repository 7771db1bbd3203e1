// Package memory is the in-process adapter of the Hub port: messages reach the
// subscriptions of one *Hub, in one process. It serves a single-instance
// deployment, and tests that run several app instances in one process sharing
// one *Hub.
//
// Each subscription has a queue of BufferSize messages, delivered by the
// goroutine that called Subscribe. When a subscriber falls so far behind that
// its queue is full, further messages are dropped for it, and once it has
// worked through the queue it is told so by Connected(false) then
// Connected(true), exactly where the messages went missing.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/framework-m/framework-m/ports"
)

// BufferSize is how many messages a subscription holds for its handler before
// it drops what is published to it.
const BufferSize = 4096

// Hub is the in-process implementation of ports.Hub. The zero value is not
// usable: call New.
type Hub struct {
	mu   sync.RWMutex
	subs map[string]map[*subscription]struct{}
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{subs: make(map[string]map[*subscription]struct{})}
}

// subscription is one Subscribe call's queue.
type subscription struct {
	mu sync.Mutex // makes checking the queue's length and adding to it one step
	// queue holds messages and gap markers; it has room for BufferSize
	// messages plus one marker (see push).
	queue chan item
	// gapQueued says the last item queued is a gap marker.
	gapQueued bool
}

// item is a message, or a gap marker where messages were dropped.
type item struct {
	payload []byte
	gap     bool
}

// push queues payload, or a gap marker when the queue is full. It never
// blocks: the queue holds at most BufferSize messages while no marker ends
// it, so one marker always fits.
func (s *subscription) push(payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.queue) < BufferSize:
		s.queue <- item{payload: payload}
		s.gapQueued = false
	case !s.gapQueued:
		s.queue <- item{gap: true}
		s.gapQueued = true
	}
}

var errEmptyTopic = errors.New("memory hub: empty topic")

// Publish queues payload for every subscription of topic and returns; the
// hub keeps a copy, so the caller may reuse payload.
func (h *Hub) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory hub: publish on %q: %w", topic, err)
	}
	if topic == "" {
		return errEmptyTopic
	}
	if len(payload) > ports.MaxHubPayload {
		return fmt.Errorf("memory hub: publish on %q: payload of %d bytes is over the limit of %d", topic, len(payload), ports.MaxHubPayload)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs[topic] {
		// Each subscription gets its own copy: its handler owns it.
		s.push(append(make([]byte, 0, len(payload)), payload...))
	}
	return nil
}

// Subscribe delivers topic's messages to hd from the calling goroutine until
// ctx ends. It reports Connected(true) at once, and Connected(false) before
// returning nil.
func (h *Hub) Subscribe(ctx context.Context, topic string, hd ports.HubHandler) error {
	if topic == "" {
		return errEmptyTopic
	}
	if ctx.Err() != nil {
		return nil
	}
	s := &subscription{queue: make(chan item, BufferSize+1)}
	h.add(topic, s)
	defer h.remove(topic, s)
	hd.Connected(true)
	defer hd.Connected(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-s.queue:
			if it.gap {
				hd.Connected(false)
				hd.Connected(true)
				continue
			}
			hd.Receive(it.payload)
		}
	}
}

func (h *Hub) add(topic string, s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := h.subs[topic]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		h.subs[topic] = subs
	}
	subs[s] = struct{}{}
}

func (h *Hub) remove(topic string, s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[topic], s)
	if len(h.subs[topic]) == 0 {
		delete(h.subs, topic)
	}
}

var _ ports.Hub = (*Hub)(nil)
