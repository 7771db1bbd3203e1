package web

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// notificationsHandler serves the caller's notifications and their
// WebSocket stream.
type notificationsHandler struct {
	svc   *notify.Service
	chain *auth.Chain
	// origins are the CORS allowed origins: pages there may open a stream
	// with the session cookie (besides the API's own host).
	origins []string
	log     *slog.Logger
}

// bindNotifications registers /notifications/….
func bindNotifications(api *echo.Group, svc *notify.Service, chain *auth.Chain, cors config.CORS, log *slog.Logger, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := notificationsHandler{svc: svc, chain: chain, origins: cors.AllowedOrigins, log: log}
	const tag = "Notifications"
	note := anyObject("a Notification document")
	docs.add(api.GET("/notifications", h.list, RequireUser), route{tag: tag, summary: "The caller's notifications, newest first",
		params: []*openapi.Parameter{query("read", "true or false: only read or unread ones", boolean()),
			query("limit", "page size (20 when absent)", &openapi.Schema{Type: "integer", Minimum: new(1.0), Maximum: new(float64(resource.MaxLimit))}),
			query("offset", "notifications to skip", &openapi.Schema{Type: "integer", Minimum: new(0.0)})},
		responses: replies(reply(http.StatusOK, "a page of notifications", openapi.Object(map[string]*openapi.Schema{
			"data": openapi.Array(note), "total": integer(), "unread": integer(), "limit": integer(), "offset": integer()},
			"data", "total", "unread", "limit", "offset")))})
	docs.add(api.GET("/notifications/stream", h.stream, RequireUser), route{tag: tag, summary: "Stream new notifications over a WebSocket",
		description: "A WebSocket upgrade (Connection: Upgrade, Upgrade: websocket). Each new notification of the caller arrives as a text message " +
			`{"type": "notification", "data": {…}}; ?since=<id> first sends those created after that one ({"type": "missed", …} when there were more than 100). ` +
			"Credentials are checked again every [notifications] recheck_seconds: a revoked one closes the stream with 4001. A request that is not an upgrade answers 426.",
		params: []*openapi.Parameter{query("since", "the id of the last notification the client has", str())},
		responses: replies(status{"101", &openapi.Response{Description: "switching to the WebSocket protocol"}},
			status{"426", openapi.ErrorRef()})})
	docs.add(api.POST("/notifications/read-all", h.readAll, RequireUser), route{tag: tag, summary: "Mark every notification of the caller read",
		responses: replies(reply(http.StatusOK, "how many were marked", dataOf(obj(map[string]*openapi.Schema{"marked": integer()}))))})
	docs.add(api.PATCH("/notifications/:id/read", h.markRead, RequireUser), route{tag: tag, summary: "Mark one notification read",
		responses: replies(reply(http.StatusOK, "the notification", dataOf(note)))})
	docs.add(api.DELETE("/notifications/:id", h.delete, RequireUser), route{tag: tag, summary: "Delete one notification",
		responses: replies(reply(http.StatusOK, "deleted", dataOf(obj(map[string]*openapi.Schema{"id": str(), "deleted": boolean()}))))})
}

// notificationList is the body of GET /notifications.
type notificationList struct {
	Data   []json.RawMessage `json:"data"`
	Total  int64             `json:"total"`
	Unread int64             `json:"unread"`
	Limit  int               `json:"limit"`
	Offset int               `json:"offset"`
}

// list answers the caller's notifications, newest first: ?read=true|false,
// ?limit= (1…1000, default 20), ?offset=.
func (h notificationsHandler) list(c echo.Context) error {
	p, err := parseNotificationParams(c.QueryParams())
	if err != nil {
		return err
	}
	page, err := h.svc.List(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := notificationList{Data: make([]json.RawMessage, len(page.Items)), Total: page.Total, Unread: page.Unread, Limit: p.Limit, Offset: p.Offset}
	if out.Limit == 0 {
		out.Limit = resource.DefaultLimit
	}
	for i, n := range page.Items {
		if out.Data[i], err = h.svc.Marshal(n); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

func parseNotificationParams(q url.Values) (notify.ListParams, error) {
	var p notify.ListParams
	verr := &core.ValidationError{}
	if v := q.Get("read"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			verr.Add("read", "must be true or false")
		}
		p.Read = &b
	}
	for _, f := range []struct {
		name string
		dst  *int
		min  int
	}{{"limit", &p.Limit, 1}, {"offset", &p.Offset, 0}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		switch {
		case err != nil:
			verr.Add(f.name, "must be an integer")
		case i < f.min || (f.name == "limit" && i > resource.MaxLimit):
			if f.name == "limit" {
				verr.Add(f.name, "must be between 1 and "+strconv.Itoa(resource.MaxLimit))
			} else {
				verr.Add(f.name, "must not be negative")
			}
		default:
			*f.dst = i
		}
	}
	return p, verr.Err()
}

func (h notificationsHandler) markRead(c echo.Context) error {
	n, err := h.svc.MarkRead(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return h.one(c, n)
}

func (h notificationsHandler) one(c echo.Context, n *doctypes.Notification) error {
	raw, err := h.svc.Marshal(n)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, wrapData(raw))
}

func (h notificationsHandler) readAll(c echo.Context) error {
	n, err := h.svc.ReadAll(c.Request().Context())
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"marked": n})
}

func (h notificationsHandler) delete(c echo.Context) error {
	id := param(c, "id")
	if err := h.svc.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

// WebSocket close codes of notification streams (besides RFC 6455's).
const (
	// CloseRevoked ends a stream whose credentials no longer authenticate,
	// or whose user is gone: log in again before reconnecting.
	CloseRevoked websocket.StatusCode = 4001
)

// stream upgrades to a WebSocket that pushes each new notification of the
// caller (in the request's tenant) as a text message
// {"type": "notification", "data": {…}}. ?since=<id> first sends those
// created after that one (the newest 100, after {"type": "missed", …} when
// there were more). The credential is the request's, through the same auth
// chain as every route: a bearer token or API key header, or the session
// cookie from a page of the API's own host or of a CORS allowed origin
// (Origin is checked; browsers cannot set headers on WebSockets). It is
// authenticated again every [notifications] recheck_seconds: a revoked
// session, token or key, or a user gone, closes the stream with 4001.
func (h notificationsHandler) stream(c echo.Context) error {
	req := c.Request()
	if !isWebSocket(req) {
		c.Response().Header().Set("Upgrade", "websocket")
		return echo.NewHTTPError(http.StatusUpgradeRequired, "this route streams notifications over a WebSocket: connect with a WebSocket client")
	}
	since := c.QueryParam("since")
	if since != "" {
		if err := notify.CheckID("since", since); err != nil {
			return err
		}
	}
	ctx := req.Context()
	u := userOf(c)
	if err := h.checkOrigin(req, u); err != nil {
		return err
	}
	ticket, err := h.svc.Admit(ctx)
	if err != nil {
		return err
	}
	header := req.Header.Clone()
	id, tenant := u.ID, ports.TenantIDFrom(ctx)
	recheck := func(ctx context.Context) error {
		again, err := h.chain.Authenticate(ctx, header)
		if err != nil {
			return err
		}
		if again == nil || again.ID != id || (again.TenantID != "" && again.TenantID != tenant) {
			return core.Public(core.ErrUnauthorized, "the stream's credential no longer authenticates")
		}
		return nil
	}
	// Registered before the upgrade: what is created once the client has
	// its 101 is never missed.
	st := ticket.Open(context.WithoutCancel(ctx), notify.StreamOptions{Since: since, Recheck: recheck})
	// The Origin is checked above (for every request that has one);
	// websocket.Accept's own check would refuse the CORS origins.
	ws, err := websocket.Accept(smallBuffers{c.Response()}, req, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		st.Close(notify.CloseClientGone)
		h.log.InfoContext(ctx, "notification stream not upgraded", "err", err, "request_id", requestID(c))
		return nil // Accept has answered
	}
	// The connection outlives the request: the handler returns now, the
	// stream writes on goroutines of its own while it has something to
	// write, and one goroutine reads (control frames: pongs, close).
	st.Start(wsConn{ws})
	read := ws.CloseRead(context.Background())
	context.AfterFunc(read, func() { st.Close(notify.CloseClientGone) })
	return nil
}

// isWebSocket reports whether req asks to upgrade to a WebSocket.
func isWebSocket(req *http.Request) bool {
	return headerHasToken(req.Header, "Connection", "upgrade") && headerHasToken(req.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin refuses a stream opened from a page of another site: a
// request with an Origin must come from the API's own host or a CORS
// allowed origin ("*" does not count: any site could then read the
// user's notifications with their cookie), and one authenticated by the
// session cookie must have an Origin.
func (h notificationsHandler) checkOrigin(req *http.Request, u *ports.UserContext) error {
	origin := req.Header.Get("Origin")
	if origin == "" {
		if u != nil && u.SessionID != "" {
			return core.Public(core.ErrForbidden, "a stream authenticated by the session cookie must come from a page (with an Origin)")
		}
		return nil
	}
	o, err := url.Parse(origin)
	if err == nil && o.Host != "" {
		if strings.EqualFold(o.Host, req.Host) {
			return nil
		}
		for _, allowed := range h.origins {
			if allowed != "*" && strings.EqualFold(strings.TrimSuffix(allowed, "/"), o.Scheme+"://"+o.Host) {
				return nil
			}
		}
	}
	return core.Public(core.ErrForbidden, "streams may not be opened from pages of this origin")
}

// Buffers of an upgraded stream: it reads control frames only (pongs, a
// close) and writes one notification at a time, which fits in a kilobyte
// (a larger one is written straight from the message). net/http's 4 KiB
// reader and writer would be half of what an idle stream holds.
const (
	streamReadBuffer  = 512
	streamWriteBuffer = 1024
)

// smallBuffers hands websocket.Accept the hijacked connection with small
// buffers (see streamReadBuffer); net/http's reader is kept when the client
// has already sent more than its handshake.
type smallBuffers struct{ http.ResponseWriter }

func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r := rw.Reader
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(conn, streamReadBuffer)
	}
	// net/http has flushed the 101 and hands over an empty writer.
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, streamWriteBuffer)), rw.Writer.Flush()
}

// wsConn is a WebSocket as a notification stream drives it.
type wsConn struct{ c *websocket.Conn }

func (w wsConn) Write(ctx context.Context, frame []byte) error {
	return w.c.Write(ctx, websocket.MessageText, frame)
}

func (w wsConn) Ping(ctx context.Context) error { return w.c.Ping(ctx) }

// Close closes with the code of reason; without the closing handshake
// when the client is gone or does not answer.
func (w wsConn) Close(reason notify.CloseReason) {
	var code websocket.StatusCode
	switch reason {
	case notify.CloseClientGone, notify.CloseUnresponsive:
		_ = w.c.CloseNow()
		return
	case notify.CloseRevoked:
		code = CloseRevoked
	case notify.CloseSlow:
		code = websocket.StatusTryAgainLater
	case notify.CloseResync:
		code = websocket.StatusServiceRestart
	case notify.CloseShutdown:
		code = websocket.StatusGoingAway
	default:
		code = websocket.StatusInternalError
	}
	_ = w.c.Close(code, reason.String())
}

var _ notify.Conn = wsConn{}
