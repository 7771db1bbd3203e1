// Package redis is the Redis Pub/Sub adapter of the Hub port (go-redis v9):
// every app instance connected to the same Redis server (and using the same
// channel prefix) hears what the others publish.
//
// A topic T is the Redis channel PREFIX+T. Each Subscribe holds a Pub/Sub
// connection of its own; when it breaks, the subscription reports
// Connected(false), reconnects with a back-off of 100 ms doubling up to 2 s,
// and reports Connected(true) once Redis confirms the subscription again.
// While no message arrives, the connection is pinged every 15 seconds, and
// replaced when a ping goes unanswered, so a connection that died silently
// is noticed too.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DefaultChannelPrefix starts every channel name by default.
const DefaultChannelPrefix = "fm:"

// Config is the [hub.redis] section (the server is [redis] url).
type Config struct {
	// ChannelPrefix starts every Redis channel name, so several apps can
	// share one Redis server: at most 64 characters, no whitespace.
	ChannelPrefix string `toml:"channel_prefix"`
}

// DefaultConfig returns the documented defaults of [hub.redis].
func DefaultConfig() Config { return Config{ChannelPrefix: DefaultChannelPrefix} }

// Validate checks the channel prefix.
func (c Config) Validate() error {
	if utf8.RuneCountInString(c.ChannelPrefix) > 64 {
		return core.Invalid("channel_prefix", "must be at most 64 characters")
	}
	if strings.IndexFunc(c.ChannelPrefix, unicode.IsSpace) >= 0 {
		return core.Invalid("channel_prefix", "must not contain whitespace")
	}
	return nil
}

const (
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	pingInterval = 15 * time.Second
)

// Hub is the Redis implementation of ports.Hub.
type Hub struct {
	client goredis.UniversalClient
	prefix string
}

// New returns a hub publishing and subscribing through client (a
// *goredis.Client, say). cfg must be valid (see Config.Validate). The hub
// does not close client.
func New(client goredis.UniversalClient, cfg Config) *Hub {
	return &Hub{client: client, prefix: cfg.ChannelPrefix}
}

var errEmptyTopic = errors.New("redis hub: empty topic")

// Publish sends payload on the channel of topic.
func (h *Hub) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis hub: publish on %q: %w", topic, err)
	}
	if topic == "" {
		return errEmptyTopic
	}
	if len(payload) > ports.MaxHubPayload {
		return fmt.Errorf("redis hub: publish on %q: payload of %d bytes is over the limit of %d", topic, len(payload), ports.MaxHubPayload)
	}
	if err := h.client.Publish(ctx, h.prefix+topic, payload).Err(); err != nil {
		return fmt.Errorf("redis hub: publish on %q: %w", topic, err)
	}
	return nil
}

// Subscribe delivers the messages of topic's channel to hd until ctx ends,
// reconnecting whenever the connection is lost; then it reports
// Connected(false) (if connected) and returns nil.
func (h *Hub) Subscribe(ctx context.Context, topic string, hd ports.HubHandler) error {
	if topic == "" {
		return errEmptyTopic
	}
	s := &subscription{channel: h.prefix + topic, h: hd}
	delay := minBackoff
	for ctx.Err() == nil {
		if h.receive(ctx, s) {
			delay = minBackoff
		}
		s.setConnected(false)
		if !sleep(ctx, delay) {
			break
		}
		delay = min(2*delay, maxBackoff)
	}
	return nil
}

// subscription is one Subscribe call's state.
type subscription struct {
	channel   string
	h         ports.HubHandler
	connected bool
}

func (s *subscription) setConnected(ok bool) {
	if s.connected != ok {
		s.connected = ok
		s.h.Connected(ok)
	}
}

// receive runs one Pub/Sub connection until it fails or ctx ends, and says
// whether it was subscribed at some point.
func (h *Hub) receive(ctx context.Context, s *subscription) (subscribed bool) {
	ps := h.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	// Receive does not return when ctx ends; closing the PubSub makes it.
	stopClose := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stopClose()
	var seen atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go watch(ctx, ps, &seen, done)

	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return subscribed
		}
		seen.Store(true)
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.channel {
				subscribed = true
				s.setConnected(true)
			}
		case *goredis.Message:
			if m.Channel == s.channel && s.connected {
				s.h.Receive([]byte(m.Payload))
			}
		}
	}
}

// watch pings ps when nothing has arrived for pingInterval, and closes it
// when nothing (not even the pong) arrives for another pingInterval.
func watch(ctx context.Context, ps *goredis.PubSub, seen *atomic.Bool, done <-chan struct{}) {
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	pinged := false
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		switch {
		case seen.Swap(false):
			pinged = false
		case pinged:
			_ = ps.Close()
			return
		default:
			pinged = true
			if ps.Ping(ctx) != nil {
				_ = ps.Close()
				return
			}
		}
	}
}

// sleep waits d, or less if ctx ends first; it says whether ctx is still on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var _ ports.Hub = (*Hub)(nil)
