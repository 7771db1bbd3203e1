package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/ratelimit/redis"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/ratelimittest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	url := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	opts, err := goredis.ParseURL(url)
	require.NoError(t, err)
	client := goredis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	prefix := fmt.Sprintf("fmtest:rl:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := client.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	ratelimittest.Run(t, func(t *testing.T) ports.RateLimiter { return redis.New(client, prefix) })
}
