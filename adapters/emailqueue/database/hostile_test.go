package database_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

func hostileEmail(subject string) *ports.QueuedEmail {
	return &ports.QueuedEmail{
		MessageID: fmt.Sprintf("%d@example.com", time.Now().UnixNano()),
		From:      ports.EmailAddress{Address: "app@example.com"},
		To:        []ports.EmailAddress{{Address: "ann@example.com"}},
		Subject:   subject, Text: "x", Priority: ports.EmailPriorityNormal, MaxRetries: 3, Owner: "system",
	}
}

// A slow worker whose lease ran out loses every change to the worker that
// claimed the email after it, on both drivers, one by one and in batches.
func TestHostileExpiredLease(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			ctx := ports.WithTenantID(context.Background(), "t1")
			e := hostileEmail("lease")
			require.NoError(t, q.Enqueue(ctx, e))
			first, err := q.Claim(ctx, 10, 50*time.Millisecond)
			require.NoError(t, err)
			require.Len(t, first, 1)
			// Not due while the lease runs.
			again, err := q.Claim(ctx, 10, time.Minute)
			require.NoError(t, err)
			assert.Empty(t, again)
			time.Sleep(120 * time.Millisecond)
			second, err := q.Claim(ctx, 10, time.Minute)
			require.NoError(t, err)
			require.Len(t, second, 1)
			assert.NotEqual(t, first[0].LeaseToken, second[0].LeaseToken)
			old := first[0].Lease()
			assert.ErrorIs(t, q.MarkSent(ctx, old, time.Now()), ports.ErrEmailLeaseLost)
			assert.ErrorIs(t, q.MarkFailed(ctx, old, "x", time.Now()), ports.ErrEmailLeaseLost)
			assert.ErrorIs(t, q.MarkFailed(ctx, old, "x", time.Time{}), ports.ErrEmailLeaseLost)
			assert.ErrorIs(t, q.Release(ctx, old), ports.ErrEmailLeaseLost)
			lost, err := q.MarkSentBatch(ctx, []ports.EmailLease{old}, time.Now())
			require.NoError(t, err)
			assert.Len(t, lost, 1)
			got, err := q.Get(ctx, e.ID)
			require.NoError(t, err)
			assert.Equal(t, ports.EmailSending, got.Status)
			assert.ErrorIs(t, q.MarkSent(ctx, ports.EmailLease{TenantID: "t1", ID: e.ID}, time.Now()), ports.ErrEmailLeaseLost, "empty token")
			require.NoError(t, q.MarkSent(ctx, second[0].Lease(), time.Now()))
			// A lease of the same id in another tenant changes nothing.
			other := second[0].Lease()
			other.TenantID = "t2"
			assert.ErrorIs(t, q.MarkSent(ctx, other, time.Now()), ports.ErrEmailLeaseLost)
		})
	}
}

// MarkSentBatch across its 300-lease chunks, with lost leases mixed in and
// leases of another tenant: exactly the held ones are marked.
func TestHostileMarkSentBatchChunks(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			ctx := ports.WithTenantID(context.Background(), "t1")
			for i := range 650 {
				require.NoError(t, q.Enqueue(ctx, hostileEmail(fmt.Sprint(i))))
			}
			claimed, err := q.Claim(ctx, 1000, time.Minute)
			require.NoError(t, err)
			require.Len(t, claimed, 650)
			var ls []ports.EmailLease
			wantLost := 0
			for i, e := range claimed {
				l := e.Lease()
				switch i % 7 {
				case 3:
					l.Token = "wrong"
					wantLost++
				case 5:
					l.TenantID = "t2"
					wantLost++
				}
				ls = append(ls, l)
			}
			lost, err := q.MarkSentBatch(ctx, ls, time.Now())
			require.NoError(t, err)
			assert.Len(t, lost, wantLost)
			_, sent, err := q.List(ctx, ports.EmailQueueFilter{Status: ports.EmailSent, Limit: 1})
			require.NoError(t, err)
			assert.Equal(t, 650-wantLost, sent)
		})
	}
}

// Claims racing each other and Cancel never hand one email to two workers
// nor send a Cancelled one.
func TestHostileClaimRacesCancel(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			ctx := ports.WithTenantID(context.Background(), "t1")
			var ids []string
			for i := range 200 {
				e := hostileEmail(fmt.Sprint(i))
				require.NoError(t, q.Enqueue(ctx, e))
				ids = append(ids, e.ID)
			}
			var mu sync.Mutex
			claimedBy := map[string]int{}
			cancelled := map[string]bool{}
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Go(func() {
					for range 30 {
						got, err := q.Claim(ctx, 7, time.Minute)
						if err != nil {
							t.Errorf("claim: %v", err)
							return
						}
						mu.Lock()
						for _, e := range got {
							claimedBy[e.ID]++
						}
						mu.Unlock()
					}
				})
				wg.Go(func() {
					for i := w; i < len(ids); i += 6 {
						err := q.Cancel(ctx, ids[i])
						if err == nil {
							mu.Lock()
							cancelled[ids[i]] = true
							mu.Unlock()
						} else if !errors.Is(err, core.ErrConflict) {
							t.Errorf("cancel: %v", err)
						}
					}
				})
			}
			wg.Wait()
			for id, n := range claimedBy {
				assert.Equal(t, 1, n, "email %s claimed %d times", id, n)
				assert.False(t, cancelled[id], "email %s both claimed and cancelled", id)
				got, err := q.Get(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, ports.EmailSending, got.Status)
			}
		})
	}
}

// Due times are compared right to the millisecond on both drivers
// (SQLite keeps them as text): a retry 300ms ahead waits, then is claimed.
func TestHostileSubsecondDue(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			ctx := ports.WithTenantID(context.Background(), "t1")
			e := hostileEmail("soon")
			require.NoError(t, q.Enqueue(ctx, e))
			c, err := q.Claim(ctx, 1, time.Minute)
			require.NoError(t, err)
			require.Len(t, c, 1)
			// A whole-second retry time against fractional "now"s and back.
			at := time.Now().Add(time.Second).Truncate(time.Second)
			require.NoError(t, q.MarkFailed(ctx, c[0].Lease(), "busy", at))
			for time.Now().Before(at.Add(-30 * time.Millisecond)) {
				got, err := q.Claim(ctx, 1, time.Minute)
				require.NoError(t, err)
				require.Empty(t, got, "claimed %v before its retry time %v", time.Now(), at)
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(80 * time.Millisecond)
			got, err := q.Claim(ctx, 1, time.Minute)
			require.NoError(t, err)
			assert.Len(t, got, 1, "not claimed after its retry time")
		})
	}
}

// Retry of a Cancelled email clears send_after (NULL) and makes it due now.
func TestHostileRetryClearsSchedule(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			q := open(t, driver)
			ctx := ports.WithTenantID(context.Background(), "t1")
			e := hostileEmail("later")
			e.SendAfter = time.Now().Add(time.Hour)
			require.NoError(t, q.Enqueue(ctx, e))
			got, err := q.Claim(ctx, 5, time.Minute)
			require.NoError(t, err)
			assert.Empty(t, got)
			require.NoError(t, q.Cancel(ctx, e.ID))
			require.NoError(t, q.Retry(ctx, e.ID))
			back, err := q.Get(ctx, e.ID)
			require.NoError(t, err)
			assert.True(t, back.SendAfter.IsZero())
			got, err = q.Claim(ctx, 5, time.Minute)
			require.NoError(t, err)
			assert.Len(t, got, 1)
		})
	}
}

// failingSender fails every attempt with err.
type failingSender struct{ err error }

func (f failingSender) Send(context.Context, ports.EmailMessage) error { return f.err }

// Regression test (PostgreSQL, a review found it): a failure text is stored as the sender gave it, cut at
// 2000 bytes with clipError (core/email/processor.go), which can split a
// UTF-8 character; and an SMTP server's reply may hold any bytes. PostgreSQL
// refuses invalid UTF-8 (and NUL), so MarkFailed fails, the email stays
// Sending, and after each lease it is claimed and tried again, for ever:
// retry_count never grows and it never becomes Failed.
func TestHostileFailureTextNotUTF8(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			for name, reason := range map[string]string{
				"split rune": strings.Repeat("a", 1980) + "é" + strings.Repeat("b", 100), // after "email rejected: ", byte 1997 is inside é
				"latin1":     "550 5.1.1 unknown user M\xfcller",
				"nul":        "550 bad\x00reply",
			} {
				t.Run(name, func(t *testing.T) {
					q := open(t, driver)
					svc := email.New(q, failingSender{fmt.Errorf("%w: %s", ports.ErrEmailRejected, reason)}, nil, email.Options{
						From: ports.EmailAddress{Address: "app@example.com"}, Logger: slog.New(slog.DiscardHandler),
						Processor: email.ProcessorOptions{Lease: 200 * time.Millisecond},
					})
					ctx := ports.WithTenantID(context.Background(), "t1")
					e, err := svc.QueueEmail(ctx, email.Request{To: []ports.EmailAddress{{Address: "ann@example.com"}}, Subject: "s", Text: "x"})
					require.NoError(t, err)
					_, err = svc.Processor().ProcessQueue(ctx)
					require.NoError(t, err)
					got, err := q.Get(ctx, e.ID)
					require.NoError(t, err)
					if got.Status != ports.EmailFailed {
						t.Errorf("BUG: a rejected email whose failure text is %s stays %s (not Failed): it is tried again after every lease", name, got.Status)
					}
				})
			}
		})
	}
}
