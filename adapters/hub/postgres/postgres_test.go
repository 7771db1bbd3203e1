package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/hub/postgres"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/hubtest"
	"github.com/framework-m/framework-m/ports"
)

func randomHex() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testConfig is a prefix of this run's own, so parallel runs never cross.
func testConfig() postgres.Config {
	return postgres.Config{ChannelPrefix: "fmt_" + randomHex() + "_"}
}

// withParam returns dsn (URL or key=value form) with one more parameter.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + key + "=" + value
	}
	return dsn + " " + key + "=" + value
}

func newHub(t *testing.T, dsn string, cfg postgres.Config) *postgres.Hub {
	t.Helper()
	h, err := postgres.New(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

func TestContract(t *testing.T) {
	dsn := fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	cfg := testConfig()
	hubtest.Run(t, func(t *testing.T) ports.Hub { return newHub(t, dsn, cfg) })
}

func TestContractShared(t *testing.T) {
	dsn := fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	// One instance on a DSN with a search_path, as the test apps' DSNs have,
	// and a pool setting, which its subscriptions' connections must not send.
	withSchema := withParam(fmtest.PostgresSchema(t), "pool_max_conns", "5")
	cfg := testConfig()
	hubtest.RunShared(t, func(t *testing.T) (ports.Hub, ports.Hub) {
		return newHub(t, dsn, cfg), newHub(t, withSchema, cfg)
	})
}

func TestReconnect(t *testing.T) {
	dsn := fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	app := "fmtest_hub_" + randomHex()
	h := newHub(t, withParam(dsn, "application_name", app), testConfig())
	admin, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	hubtest.RunReconnect(t, h, func(t *testing.T) {
		var killed int
		err := admin.QueryRow(context.Background(),
			`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			 WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&killed)
		require.NoError(t, err)
		require.Positive(t, killed, "no backend of %s is listening", app)
	})
}

func TestChannelLimit(t *testing.T) {
	dsn := fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	cfg := postgres.Config{ChannelPrefix: "fm_"}
	h := newHub(t, dsn, cfg)
	ctx := context.Background()
	longest := strings.Repeat("t", postgres.MaxChannel-len(cfg.ChannelPrefix))
	require.NoError(t, h.Publish(ctx, longest, []byte("x")))
	require.Error(t, h.Publish(ctx, longest+"t", []byte("x")))
	require.Error(t, h.Subscribe(ctx, longest+"t", nil), "Subscribe refuses a topic whose channel is too long")
	require.Error(t, h.Publish(ctx, "", []byte("x")))
	require.Error(t, h.Subscribe(ctx, "", nil))
	require.Error(t, h.Publish(ctx, "bad\x00topic", []byte("x")))
	require.Error(t, h.Subscribe(ctx, "bad\xfftopic", nil))
}

func TestPayloadMustBeText(t *testing.T) {
	dsn := fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	h := newHub(t, dsn, testConfig())
	ctx := context.Background()
	require.Error(t, h.Publish(ctx, "t", []byte{0xff, 0xfe}), "invalid UTF-8")
	require.Error(t, h.Publish(ctx, "t", []byte("a\x00b")), "NUL byte")
	require.NoError(t, h.Publish(ctx, "t", []byte(`{"note":"héllo ✓"}`)))
}

func TestNew(t *testing.T) {
	_, err := postgres.New(context.Background(), "postgres://localhost/x", postgres.Config{ChannelPrefix: "Bad-Prefix"})
	require.Error(t, err, "an invalid config is refused")
	_, err = postgres.New(context.Background(), "postgres://%zz", postgres.DefaultConfig())
	require.Error(t, err, "a DSN pgx cannot parse is refused")
}

func TestConfig(t *testing.T) {
	require.NoError(t, postgres.DefaultConfig().Validate())
	require.Equal(t, "fm_", postgres.DefaultConfig().ChannelPrefix)
	require.NoError(t, postgres.Config{}.Validate())
	require.NoError(t, postgres.Config{ChannelPrefix: strings.Repeat("a_1", 10)}.Validate())
	require.Error(t, postgres.Config{ChannelPrefix: strings.Repeat("a", 31)}.Validate())
	for _, bad := range []string{"Fm_", "fm:", "fm-", "fm ", "fé"} {
		require.Error(t, postgres.Config{ChannelPrefix: bad}.Validate(), bad)
	}
}
