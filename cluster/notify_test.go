package cluster_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dial opens node's notification stream with header h.
func (n *node) dial(t *testing.T, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.url, "http")+"/api/v1/notifications/stream", &websocket.DialOptions{HTTPHeader: h})
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	require.NoError(t, err, "dial %s", n.name)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// next reads the stream's next message within d ("" and the error when
// none came).
func next(c *websocket.Conn, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.Read(ctx)
	return string(b), err
}

// TestNotificationsAcrossProcesses is issue 13's acceptance on two real
// instances sharing PostgreSQL, with LISTEN/NOTIFY and with Redis as the
// hub: a stream on B receives, within a second, a notification created
// through A's API; another user's stream on B receives nothing; ending the
// session on A closes B's stream of that session within seconds, while a
// stream of a bearer token of the same user stays open.
func TestNotificationsAcrossProcesses(t *testing.T) {
	for _, hub := range []string{"postgres", "redis"} {
		t.Run(hub, func(t *testing.T) {
			var redisURL string
			if hub == "redis" {
				redisURL = startRedis(t).url()
			}
			dsn := postgresCluster(t).newDatabase(t)
			nodes := startNodes(t, newSpecs(t, 2, dsn, func(s *nodeSpec) {
				s.Hub, s.RedisURL, s.RecheckSeconds = hub, redisURL, 1
			})...)
			a, b := nodes[0], nodes[1]
			token := a.login(t)
			var me struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			a.get("/api/v1/auth/me", bearer(token)).json(t, &me)
			r := a.post("/api/v1/users", map[string]any{"email": "bob@example.com", "password": adminPass, "roles": []string{}}, bearer(token))
			require.Equal(t, http.StatusCreated, r.status, "%s", r)
			r = b.post("/api/v1/auth/login", loginBody("bob@example.com", adminPass), nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r)
			var bob struct {
				AccessToken string `json:"access_token"`
			}
			r.json(t, &bob)

			admin := b.dial(t, bearer(token))
			other := b.dial(t, bearer(bob.AccessToken))
			session := b.sessionLogin(t)
			browser := b.dial(t, http.Header{"Cookie": {"session_id=" + session}, "Origin": {b.url}})

			t0 := time.Now()
			r = a.post("/api/v1/resource/Notification", map[string]any{"user_id": me.Data.ID, "subject": "from A", "message": "hello"}, bearer(token))
			require.Equal(t, http.StatusCreated, r.status, "%s", r)
			for name, c := range map[string]*websocket.Conn{"bearer": admin, "session": browser} {
				msg, err := next(c, time.Second)
				require.NoError(t, err, "%s stream on B: nothing within a second", name)
				assert.Contains(t, msg, `"subject":"from A"`)
				t.Logf("%s stream on B got A's notification after %v", name, time.Since(t0).Round(time.Millisecond))
			}
			_, err := next(other, time.Second)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "another user's stream receives nothing")

			// Revoke the session on A: B's stream of the session closes
			// (4001) within seconds; the bearer stream goes on.
			var sessions struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			a.get("/api/v1/auth/sessions", bearer(token)).json(t, &sessions)
			require.Len(t, sessions.Data, 1)
			r = a.do(http10s, http.MethodDelete, "/api/v1/auth/sessions/"+sessions.Data[0].ID, nil, bearer(token))
			require.Equal(t, http.StatusOK, r.status, "%s", r)
			_, err = next(browser, 10*time.Second)
			require.Error(t, err)
			assert.Equal(t, websocket.StatusCode(4001), websocket.CloseStatus(err), "closed as revoked: %v", err)
			r = a.post("/api/v1/resource/Notification", map[string]any{"user_id": me.Data.ID, "subject": "still here", "message": "m"}, bearer(token))
			require.Equal(t, http.StatusCreated, r.status, "%s", r)
			msg, err := next(admin, 2*time.Second)
			require.NoError(t, err)
			assert.Contains(t, msg, "still here")
		})
	}
}
