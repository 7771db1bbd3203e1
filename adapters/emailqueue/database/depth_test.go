package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestDepth: Depth counts the Queued emails of every tenant (held back ones
// too), not those claimed or done, with no tenant in its context.
func TestDepth(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			bg := context.Background()
			n, err := q.Depth(bg)
			require.NoError(t, err)
			assert.Zero(t, n)

			t1 := ports.WithTenantID(bg, "t1")
			t2 := ports.WithTenantID(bg, "t2")
			require.NoError(t, q.Enqueue(t1, hostileEmail("a")))
			require.NoError(t, q.Enqueue(t1, hostileEmail("b")))
			c := hostileEmail("c")
			require.NoError(t, q.Enqueue(t2, c))
			later := hostileEmail("later")
			later.SendAfter = time.Now().Add(time.Hour)
			require.NoError(t, q.Enqueue(t2, later))
			n, err = q.Depth(bg)
			require.NoError(t, err)
			assert.EqualValues(t, 4, n, "every tenant's Queued emails, held back ones too")

			claimed, err := q.Claim(bg, 1, time.Minute)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			n, err = q.Depth(bg)
			require.NoError(t, err)
			assert.EqualValues(t, 3, n, "a claimed email is not waiting")

			require.NoError(t, q.MarkSent(bg, claimed[0].Lease(), time.Now()))
			require.NoError(t, q.Cancel(t2, later.ID))
			n, err = q.Depth(bg)
			require.NoError(t, err)
			assert.EqualValues(t, 2, n, "sent and cancelled emails are not waiting")
		})
	}
}
