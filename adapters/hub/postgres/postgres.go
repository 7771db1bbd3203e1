// Package postgres is the PostgreSQL LISTEN/NOTIFY adapter of the Hub port
// (pgx v5): every app instance connected to the same PostgreSQL database
// (and using the same channel prefix) hears what the others publish, with no
// server but the database.
//
// A topic T is the channel PREFIX+T, which PostgreSQL limits to 63 bytes:
// Publish and Subscribe refuse longer ones. NOTIFY carries text, so payloads
// must be valid UTF-8 without NUL bytes (JSON, say); Publish refuses others.
//
// Publish sends pg_notify through a small pool (two connections). Each
// Subscribe holds a connection of its own doing LISTEN; when it breaks, the
// subscription reports Connected(false), reconnects with a back-off of
// 100 ms doubling up to 2 s, LISTENs again and reports Connected(true). While
// no notification arrives, the connection is pinged every 15 seconds, so a
// connection that died silently is noticed too.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DefaultChannelPrefix starts every channel name by default.
const DefaultChannelPrefix = "fm_"

// MaxChannel is the longest channel name PostgreSQL takes, in bytes: the
// prefix plus the topic.
const MaxChannel = 63

// Config is the [hub.postgres] section (the server is [database] dsn).
type Config struct {
	// ChannelPrefix starts every channel name, so several apps can share
	// one database: at most 30 characters of a-z, 0-9 and _.
	ChannelPrefix string `toml:"channel_prefix"`
}

// DefaultConfig returns the documented defaults of [hub.postgres].
func DefaultConfig() Config { return Config{ChannelPrefix: DefaultChannelPrefix} }

// Validate checks the channel prefix.
func (c Config) Validate() error {
	if len(c.ChannelPrefix) > 30 {
		return core.Invalid("channel_prefix", "must be at most 30 characters")
	}
	for _, r := range c.ChannelPrefix {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_') {
			return core.Invalid("channel_prefix", "must contain only a-z, 0-9 and _")
		}
	}
	return nil
}

const (
	minBackoff     = 100 * time.Millisecond
	maxBackoff     = 2 * time.Second
	pingInterval   = 15 * time.Second
	pingTimeout    = 10 * time.Second
	connectTimeout = 15 * time.Second
	closeTimeout   = 2 * time.Second
	// defaultApplicationName names the hub's connections in
	// pg_stat_activity when the DSN names none.
	defaultApplicationName = "framework-m hub"
)

// Hub is the PostgreSQL implementation of ports.Hub. Close it when done.
type Hub struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig
	prefix  string
}

// New connects to the database of dsn (a URL or key=value string, as pgx
// takes it; a search_path or application_name in it is kept) and checks it
// answers. Publish uses a pool of two connections (pool_max_conns and
// pool_min_conns in the DSN are overridden); each subscription opens a
// connection of its own.
func New(ctx context.Context, dsn string, cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres hub: parse DSN: %w", err)
	}
	poolCfg.MaxConns = 2
	poolCfg.MinConns = 0
	if poolCfg.ConnConfig.RuntimeParams["application_name"] == "" {
		poolCfg.ConnConfig.RuntimeParams["application_name"] = defaultApplicationName
	}
	// The subscriptions' connections: the pool's settings (pool_max_conns …)
	// are not theirs, and pgxpool has taken them out of ConnConfig.
	connCfg := poolCfg.ConnConfig.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres hub: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres hub: connect to %s: %w", connCfg.Host, err)
	}
	return &Hub{pool: pool, connCfg: connCfg, prefix: cfg.ChannelPrefix}, nil
}

// Close closes the connections Publish uses. Subscriptions end with their
// contexts, not with Close.
func (h *Hub) Close() error {
	h.pool.Close()
	return nil
}

// channel returns topic's channel name, or why topic cannot have one.
func (h *Hub) channel(topic string) (string, error) {
	ch := h.prefix + topic
	switch {
	case topic == "":
		return "", errors.New("postgres hub: empty topic")
	case len(ch) > MaxChannel:
		return "", fmt.Errorf("postgres hub: topic %q: channel %q is over PostgreSQL's limit of %d bytes", topic, ch, MaxChannel)
	case !utf8.ValidString(topic) || bytes.IndexByte([]byte(topic), 0) >= 0:
		return "", fmt.Errorf("postgres hub: topic %q is not UTF-8 text", topic)
	}
	return ch, nil
}

// Publish sends payload, which must be UTF-8 text without NUL bytes, on
// topic's channel (pg_notify, committed at once).
func (h *Hub) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres hub: publish on %q: %w", topic, err)
	}
	ch, err := h.channel(topic)
	if err != nil {
		return err
	}
	if len(payload) > ports.MaxHubPayload {
		return fmt.Errorf("postgres hub: publish on %q: payload of %d bytes is over the limit of %d", topic, len(payload), ports.MaxHubPayload)
	}
	if !utf8.Valid(payload) || bytes.IndexByte(payload, 0) >= 0 {
		return fmt.Errorf("postgres hub: publish on %q: payload is not UTF-8 text without NUL bytes", topic)
	}
	if _, err := h.pool.Exec(ctx, "SELECT pg_notify($1, $2)", ch, string(payload)); err != nil {
		return fmt.Errorf("postgres hub: publish on %q: %w", topic, err)
	}
	return nil
}

// Subscribe delivers the notifications of topic's channel to hd until ctx
// ends, reconnecting whenever the connection is lost; then it reports
// Connected(false) (if connected) and returns nil.
func (h *Hub) Subscribe(ctx context.Context, topic string, hd ports.HubHandler) error {
	ch, err := h.channel(topic)
	if err != nil {
		return err
	}
	delay := minBackoff
	for ctx.Err() == nil {
		if h.listen(ctx, ch, hd) {
			delay = minBackoff
		}
		if !sleep(ctx, delay) {
			break
		}
		delay = min(2*delay, maxBackoff)
	}
	return nil
}

// listen runs one connection until it fails or ctx ends, and says whether it
// got as far as listening (and reporting Connected(true)).
func (h *Hub) listen(ctx context.Context, channel string, hd ports.HubHandler) bool {
	conn, err := h.connect(ctx, channel)
	if err != nil {
		return false
	}
	defer closeConn(conn)
	hd.Connected(true)
	defer hd.Connected(false)
	for {
		wctx, cancel := context.WithTimeout(ctx, pingInterval)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return true
		case err != nil && !timedOut:
			return true
		case err != nil:
			// Nothing for a while: make sure the connection still works.
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true
			}
		case n.Channel == channel:
			hd.Receive([]byte(n.Payload))
		}
	}
}

// connect opens a connection listening on channel.
func (h *Hub) connect(ctx context.Context, channel string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, h.connCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres hub: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("postgres hub: listen on %q: %w", channel, err)
	}
	return conn, nil
}

// closeConn closes conn, giving up on a polite goodbye after closeTimeout.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
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
