package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// notifyConfig is a test app's configuration with streams checked often.
func notifyConfig(t *testing.T, driver fmtest.Driver) config.Config {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	cfg.Notifications.RecheckSeconds = 1
	cfg.Notifications.PingIntervalSeconds = 1
	return cfg
}

func notifyApp(t *testing.T, cfg config.Config, opts ...frameworkm.Option) *fmtest.App {
	t.Helper()
	return fmtest.NewWithConfig(t, cfg, append([]frameworkm.Option{frameworkm.WithDocType[Note](noteMeta)}, opts...)...)
}

// asHeader is the handshake header of the test strategy's principal u.
func asHeader(app *fmtest.App, u *ports.UserContext) http.Header {
	h := http.Header{}
	b, _ := json.Marshal(u)
	h.Set(fmtest.HeaderUser, string(b))
	if u.TenantID != "" {
		h.Set(app.Config.Tenancy.TenantHeader, u.TenantID)
	}
	return h
}

// notifyUser creates a notification for user through the resource API, as
// admin (of the user's tenant when given).
func notifyUser(t *testing.T, app *fmtest.App, tenant, user, subject string) map[string]any {
	t.Helper()
	admin := fmtest.Admin()
	if tenant != "" {
		admin = fmtest.TenantUser(tenant, "admin", ports.RoleAdmin)
	}
	return app.As(admin).Post("/api/v1/resource/Notification", map[string]any{
		"user_id": user, "subject": subject, "message": "about " + subject, "notification_type": "mention",
	}).RequireStatus(t, http.StatusCreated).Data(t)
}

// wsURL is the stream's URL on app.
func wsURL(app *fmtest.App, query string) string {
	return "ws" + strings.TrimPrefix(app.URL, "http") + "/api/v1/notifications/stream" + query
}

// wsClient is a test's WebSocket client: a goroutine reads its frames (and
// so answers pings) unless it was opened not to read.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan map[string]any
	mu     sync.Mutex
	err    error // why reading ended
	done   chan struct{}
	pings  chan struct{}
}

type dialOpt struct {
	noRead  bool
	rcvBuf  int
	timeout time.Duration
}

// tryDial opens a stream; the response is the handshake's.
func tryDial(app *fmtest.App, h http.Header, query string, o dialOpt) (*websocket.Conn, *http.Response, chan struct{}, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{}
	if o.rcvBuf > 0 {
		// Set before connecting, so that the receive window stays small.
		d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
		}}
		hc.Transport = &http.Transport{DialContext: d.DialContext}
	}
	pings := make(chan struct{}, 100)
	c, res, err := websocket.Dial(ctx, wsURL(app, query), &websocket.DialOptions{
		HTTPHeader: h, HTTPClient: hc,
		OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pings <- struct{}{}:
			default:
			}
			return true
		},
	})
	return c, res, pings, err
}

func dial(t *testing.T, app *fmtest.App, h http.Header, query string, opts ...dialOpt) *wsClient {
	t.Helper()
	var o dialOpt
	if len(opts) > 0 {
		o = opts[0]
	}
	c, res, pings, err := tryDial(app, h, query, o)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	w := &wsClient{t: t, c: c, frames: make(chan map[string]any, 10_000), done: make(chan struct{}), pings: pings}
	t.Cleanup(func() { _ = c.CloseNow() })
	if !o.noRead {
		go w.read()
	}
	return w
}

func (w *wsClient) read() {
	defer close(w.done)
	defer close(w.frames)
	for {
		_, data, err := w.c.Read(context.Background())
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		w.frames <- m
	}
}

// next returns the next frame within timeout, or fails the test.
func (w *wsClient) next(timeout time.Duration) map[string]any {
	w.t.Helper()
	select {
	case m, ok := <-w.frames:
		if !ok {
			w.t.Fatalf("stream ended: %v", w.readErr())
		}
		return m
	case <-time.After(timeout):
		w.t.Fatalf("no frame within %s", timeout)
	}
	return nil
}

// subject returns the subject of the next frame, a notification.
func (w *wsClient) subject(timeout time.Duration) string {
	w.t.Helper()
	m := w.next(timeout)
	require.Equal(w.t, "notification", m["type"], "frame %v", m)
	return m["data"].(map[string]any)["subject"].(string)
}

// quiet asserts that nothing arrives for d.
func (w *wsClient) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case m, ok := <-w.frames:
		if ok {
			w.t.Fatalf("unexpected frame %v", m)
		}
	case <-time.After(d):
	}
}

func (w *wsClient) readErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// closedWith waits (at most timeout) for the server to close the stream and
// returns its close code (-1 when the connection just broke).
func (w *wsClient) closedWith(timeout time.Duration) websocket.StatusCode {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-w.frames:
			if ok {
				continue
			}
			return websocket.CloseStatus(w.readErr())
		case <-deadline:
			w.t.Fatalf("stream still open after %s", timeout)
			return 0
		}
	}
}
