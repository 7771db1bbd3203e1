package frameworkm

import (
	"time"

	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/ports"
)

// buildNotifications builds the notification service and the hub that
// carries new notifications to the streams of other instances:
// [notifications] hub "" is the app's [hub] (this process only when that is
// local); another name builds that hub from the registry [hub] uses, with
// its [hub.<name>] settings. The service's Run starts with the app.
func (a *App) buildNotifications(o *options, d Deps) error {
	n := a.Config.Notifications
	var hub ports.NotificationHub
	switch {
	case n.Hub == "" && a.Hub != nil:
		hub = notify.NewSharedHub(a.Hub)
	case n.Hub == "":
		hub = notify.NewLocalHub()
	default:
		h, err := o.hubs.build(d, "notifications.hub", n.Hub)
		if err != nil {
			return err
		}
		if h == nil {
			hub = notify.NewLocalHub()
		} else {
			a.adopt(h)
			hub = notify.NewSharedHub(h)
		}
	}
	svc, err := notify.New(a.Resources, a.Repository, a.Changes, hub, notify.Options{
		MaxConnectionsPerUser: n.MaxConnectionsPerUser,
		PingInterval:          time.Duration(n.PingIntervalSeconds) * time.Second,
		RecheckInterval:       time.Duration(n.RecheckSeconds) * time.Second,
		SendBuffer:            n.SendBuffer,
		Logger:                a.Logger,
		Meter:                 a.Meter,
	})
	if err != nil {
		return err
	}
	a.Notifications = svc
	a.adopt(svc)
	return nil
}
