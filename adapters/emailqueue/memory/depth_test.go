package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/emailqueue/memory"
	"github.com/framework-m/framework-m/ports"
)

func queued(subject string) *ports.QueuedEmail {
	return &ports.QueuedEmail{MessageID: subject + "@example.com", Subject: subject, MaxRetries: 3}
}

// TestDepth: Depth counts the Queued emails of every tenant (held back ones
// too), not those claimed or done, with no tenant in its context.
func TestDepth(t *testing.T) {
	q := memory.New()
	bg := context.Background()
	t1, t2 := ports.WithTenantID(bg, "t1"), ports.WithTenantID(bg, "t2")
	require.NoError(t, q.Enqueue(t1, queued("a")))
	require.NoError(t, q.Enqueue(t1, queued("b")))
	later := queued("later")
	later.SendAfter = time.Now().Add(time.Hour)
	require.NoError(t, q.Enqueue(t2, later))
	n, err := q.Depth(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)

	claimed, err := q.Claim(bg, 1, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, q.MarkFailed(bg, claimed[0].Lease(), "boom", time.Time{}))
	require.NoError(t, q.Cancel(t2, later.ID))
	n, err = q.Depth(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)

	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = q.Depth(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}
