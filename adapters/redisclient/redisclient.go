// Package redisclient opens the Redis connections the Redis adapters
// (sessions, rate limits, the hub …) share: every call bounded by a short
// timeout, without retries, behind a circuit breaker.
package redisclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cooldown is how long calls fail at once after one failed for want of an
// answer, before one is let through to try again.
const Cooldown = time.Second

// ErrCircuitOpen is what a call answers, at once, while Redis is deemed down.
var ErrCircuitOpen = errors.New("redis: not answering; calls fail fast for a moment")

// Open connects to the Redis server at rawURL (redis://[user:password@]host:port/db,
// rediss:// for TLS, unix:///path.sock) and checks it answers. Every call
// gives up after timeout (0: go-redis's defaults) and is not retried; after a
// call fails for want of an answer (refused, reset, timed out) calls fail
// with ErrCircuitOpen for Cooldown, so a request never waits on a frozen or
// missing Redis more than once. Close the client when done.
func Open(ctx context.Context, rawURL string, timeout time.Duration) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included: keep only its reason.
		if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("redis: parse URL: %w", err)
	}
	if timeout > 0 {
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = timeout, timeout, timeout, timeout
		opts.MaxRetries = -1 // a retry is one more wait
	}
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis: connect to %s: %w", opts.Addr, err)
	}
	client.AddHook(&breaker{})
	return client, nil
}

func init() {
	// go-redis logs every failed dial of its pool on stderr: during an outage,
	// a line per request. The adapters report failures themselves, once.
	goredis.SetLogger(debugLog{})
}

// debugLog sends go-redis's own log lines to slog at debug level.
type debugLog struct{}

func (debugLog) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// breaker is a go-redis hook failing calls fast while Redis is deemed down.
type breaker struct {
	openUntil atomic.Int64 // unix nanoseconds; 0: closed
}

// DialHook passes dials through.
func (b *breaker) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// ProcessHook guards one command.
func (b *breaker) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if err := b.admit(); err != nil {
			cmd.SetErr(err)
			return err
		}
		err := next(ctx, cmd)
		b.observe(ctx, err)
		return err
	}
}

// ProcessPipelineHook guards a pipeline.
func (b *breaker) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if err := b.admit(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		err := next(ctx, cmds)
		b.observe(ctx, err)
		return err
	}
}

// admit refuses a call while the breaker is open; after Cooldown it lets
// calls through again (the first failure reopens it).
func (b *breaker) admit() error {
	if until := b.openUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return ErrCircuitOpen
	}
	return nil
}

// observe opens the breaker when err says Redis did not answer.
func (b *breaker) observe(ctx context.Context, err error) {
	if err == nil || errors.Is(err, goredis.Nil) || ctx.Err() != nil {
		return // an answer, or the caller gave up
	}
	var reply goredis.Error
	if errors.As(err, &reply) {
		return // Redis answered with an error: it is up
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) {
		b.openUntil.Store(time.Now().Add(Cooldown).UnixNano())
	}
}
