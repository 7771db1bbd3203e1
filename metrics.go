package frameworkm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/framework-m/framework-m/adapters/metrics/prometheus"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/ports"
)

// WithMeter makes the app record its metrics on m instead of the
// Prometheus registry [metrics] enabled builds (apps' tests pass
// adapters/metrics/memory here and read the values back). When m has a
// Handler() http.Handler and [metrics] enabled is set, it serves /metrics
// as [metrics] says; otherwise its values are recorded, never served.
func WithMeter(m ports.Meter) Option {
	return func(o *options) { o.meter = m }
}

// buildMetrics chooses the app's Meter: an app's own (WithMeter), else a
// Prometheus registry when [metrics] enabled (with the database pool's
// statistics), else none (ports.NopMeter: nothing recorded, nothing
// served).
func (a *App) buildMetrics(o *options) error {
	a.Meter = ports.NopMeter{}
	switch {
	case o.meter != nil:
		a.Meter = o.meter
	case a.Config.Metrics.Enabled:
		m := prometheus.New(a.Logger)
		if sqlDB, err := a.DB.DB(); err == nil {
			if err := m.RegisterDBStats("main", sqlDB); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
		}
		a.Meter = m
	default:
		return nil
	}
	h, ok := a.Meter.(interface{ Handler() http.Handler })
	if !ok || !a.Config.Metrics.Enabled {
		return nil // recorded, never served
	}
	a.metricsHandler = h.Handler()
	if a.Config.Metrics.Token == "" && a.Config.Metrics.Address == "" {
		a.Logger.Warn("metrics: /metrics is served to anyone on the app's listener: set [metrics] token, or address for a private listener")
	}
	if addr := a.Config.Metrics.Address; addr != "" && a.metricsHandler != nil {
		a.Go(a.serveMetrics(addr, a.metricsHandler))
	}
	return nil
}

// webMetrics is what the web adapter serves at /metrics on the app's own
// listener: nothing when metrics are off or have a listener of their own.
func (a *App) webMetrics() http.Handler {
	if a.Config.Metrics.Address != "" {
		return nil
	}
	return a.metricsHandler
}

// serveMetrics serves /metrics alone on addr ([metrics] address) until the
// app shuts down.
func (a *App) serveMetrics(addr string, h http.Handler) func(ctx context.Context) {
	return func(ctx context.Context) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.Logger.Error("metrics: cannot listen; /metrics is not served", "address", addr, "err", err)
			return
		}
		srv := &http.Server{Handler: web.MetricsServer(h, a.Config.Metrics.Token, a.Logger), ReadHeaderTimeout: 10 * time.Second}
		a.Logger.Info("metrics listening", "address", "http://"+ln.Addr().String()+web.MetricsPath)
		go func() {
			<-ctx.Done()
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(stop)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Logger.Error("metrics listener stopped", "err", err)
		}
	}
}

// recording is m, or nil when m records nothing (the web adapter then adds
// no middleware at all).
func recording(m ports.Meter) ports.Meter {
	if _, nop := m.(ports.NopMeter); nop {
		return nil
	}
	return m
}
