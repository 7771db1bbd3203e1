package notify

import "github.com/framework-m/framework-m/ports"

// The notification streams' metrics. Their label values come from fixed
// sets: never a tenant or a user.
const (
	metricConnections = "fm_websocket_connections"
	metricRejected    = "fm_websocket_rejected_total"
	metricClosed      = "fm_websocket_closed_total"
)

// Why a stream was refused: the values of fm_websocket_rejected_total's
// reason label.
const (
	// rejectUnauthenticated: no principal or no tenant.
	rejectUnauthenticated = "unauthenticated"
	// rejectForbidden: the caller may not read notifications.
	rejectForbidden = "forbidden"
	// rejectUserLimit: the user has MaxConnectionsPerUser streams open here.
	rejectUserLimit = "user_limit"
	// rejectShutdown: the instance is shutting down.
	rejectShutdown = "shutting_down"
)

// closeLabels are the values of fm_websocket_closed_total's reason label,
// by CloseReason.
var closeLabels = [...]string{
	CloseClientGone:   "client_gone",
	CloseRevoked:      "revoked",
	CloseSlow:         "slow",
	CloseUnresponsive: "unresponsive",
	CloseResync:       "resync",
	CloseShutdown:     "shutdown",
	CloseError:        "error",
}

// label is r as a metric label value.
func (r CloseReason) label() string {
	if r >= 0 && int(r) < len(closeLabels) {
		return closeLabels[r]
	}
	return "other"
}

// metrics are the streams' instruments.
type metrics struct {
	connections ports.Gauge
	rejected    ports.Counter
	closed      ports.Counter
}

func newMetrics(m ports.Meter) metrics {
	m = ports.MeterOrNop(m)
	ms := metrics{
		connections: m.Gauge(metricConnections, "Notification streams (WebSockets) open on this instance."),
		rejected: m.Counter(metricRejected,
			"Notification streams refused, by reason (unauthenticated, forbidden, user_limit: the user has [notifications] max_connections_per_user open here, shutting_down).",
			"reason"),
		closed: m.Counter(metricClosed,
			"Notification streams closed, by reason (client_gone, revoked, slow, unresponsive, resync, shutdown, error).",
			"reason"),
	}
	ms.connections.Add(0)
	for _, r := range []string{rejectUnauthenticated, rejectForbidden, rejectUserLimit, rejectShutdown} {
		ms.rejected.Add(0, r) // every series exists from the start
	}
	for _, r := range closeLabels {
		ms.closed.Add(0, r)
	}
	return ms
}
