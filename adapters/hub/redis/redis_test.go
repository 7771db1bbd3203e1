package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/hub/redis"
	"github.com/framework-m/framework-m/adapters/redisclient"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/hubtest"
	"github.com/framework-m/framework-m/ports"
)

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// open connects to the test server; name, when set, names its connections.
func open(t *testing.T, url, name string) *goredis.Client {
	t.Helper()
	if name != "" {
		opts, err := goredis.ParseURL(url)
		require.NoError(t, err)
		opts.ClientName = name
		client := goredis.NewClient(opts)
		t.Cleanup(func() { client.Close() })
		return client
	}
	client, err := redisclient.Open(context.Background(), url, 0)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	return client
}

// testConfig is a prefix of this run's own, so parallel runs never cross.
func testConfig() redis.Config {
	return redis.Config{ChannelPrefix: "fmtest:hub:" + randomHex() + ":"}
}

func TestContract(t *testing.T) {
	url := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	client := open(t, url, "")
	cfg := testConfig()
	hubtest.Run(t, func(t *testing.T) ports.Hub { return redis.New(client, cfg) })
}

func TestContractShared(t *testing.T) {
	url := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	a, b := open(t, url, ""), open(t, url, "")
	cfg := testConfig()
	hubtest.RunShared(t, func(t *testing.T) (ports.Hub, ports.Hub) {
		return redis.New(a, cfg), redis.New(b, cfg)
	})
}

func TestReconnect(t *testing.T) {
	url := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	name := "fmtest-hub-" + randomHex()
	h := redis.New(open(t, url, name), testConfig())
	admin := open(t, url, "")
	hubtest.RunReconnect(t, h, func(t *testing.T) {
		ctx := context.Background()
		list, err := admin.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
		require.NoError(t, err)
		killed := 0
		for _, line := range strings.Split(list, "\n") {
			fields := map[string]string{}
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				fields[k] = v
			}
			if fields["name"] != name {
				continue
			}
			require.NoError(t, admin.Do(ctx, "CLIENT", "KILL", "ID", fields["id"]).Err())
			killed++
		}
		require.Positive(t, killed, "no Pub/Sub connection named %s in CLIENT LIST", name)
	})
}

func TestConfig(t *testing.T) {
	require.NoError(t, redis.DefaultConfig().Validate())
	require.Equal(t, "fm:", redis.DefaultConfig().ChannelPrefix)
	require.NoError(t, redis.Config{}.Validate())
	require.NoError(t, redis.Config{ChannelPrefix: strings.Repeat("é", 64)}.Validate())
	require.Error(t, redis.Config{ChannelPrefix: strings.Repeat("a", 65)}.Validate())
	require.Error(t, redis.Config{ChannelPrefix: "fm :"}.Validate())
	require.Error(t, redis.Config{ChannelPrefix: "fm:\n"}.Validate())
}

func TestEmptyTopic(t *testing.T) {
	h := redis.New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), redis.DefaultConfig())
	require.Error(t, h.Publish(context.Background(), "", nil))
	require.Error(t, h.Subscribe(context.Background(), "", nil))
}
