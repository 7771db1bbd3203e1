package frameworkm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestAuditConfig: bad [audit] values are refused at startup by key.
func TestAuditConfig(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Audit.QueueSize = 0
	cfg.Audit.BatchSize = 20000
	cfg.Audit.FlushIntervalMS = -1
	cfg.Audit.MaxRetries = 1000
	_, err := frameworkm.New(cfg)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	assert.ElementsMatch(t, []string{"audit.queue_size", "audit.batch_size", "audit.flush_interval_ms", "audit.max_retries"}, keys, "%v", err)

	cfg = fmtest.Config(t, fmtest.SQLite)
	cfg.Audit.Backend = "splunk"
	_, err = frameworkm.New(cfg)
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "audit.backend", cerr.Problems[0].Key, "%v", err)

	cfg = fmtest.Config(t, fmtest.SQLite)
	cfg.Audit.Backend = "elastic"
	cfg.SetSection("audit.elastic", map[string]any{"url": "ftp://es.example.com"})
	_, err = frameworkm.New(cfg)
	require.ErrorAs(t, err, &cerr)
	assert.Contains(t, cerr.Problems[0].Key, "audit.elastic", "%v", err)
}

// TestAuditToFile: with backend = "file" the trail is JSONL under DATA_DIR,
// complete once the app has shut down.
func TestAuditToFile(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Audit.Backend = "file"
	cfg.Audit.FlushIntervalMS = 60_000 // only the shutdown writes them
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)))
	require.NoError(t, err)
	require.NoError(t, app.Start(context.Background()))
	ctx := app.SystemContext(context.Background(), "")
	for i := range 250 {
		app.Audit.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin, UserID: "u", Metadata: map[string]any{"i": i}})
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, app.Shutdown(sctx))

	f, err := os.Open(filepath.Join(cfg.App.DataDir, "audit", "audit.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var e ports.AuditEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "line %d", n+1)
		assert.Equal(t, ports.AuditLogin, e.Action)
	}
	assert.Equal(t, 250, n, "every entry recorded before the shutdown is in the file")
}

// TestAuditOff: backend = "off" records nothing and serves no feed.
func TestAuditOff(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Audit.Backend = "off"
	app := fmtest.NewWithConfig(t, cfg)
	assert.Nil(t, app.Audit)
	app.As(fmtest.Admin()).Get("/api/v1/activity").RequireStatus(t, http.StatusNotFound)
}
