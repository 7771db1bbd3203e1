package frameworkm_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// Memo is an app DocType of the event tests.
type Memo struct {
	doctype.Base
	Title string `json:"title"`
}

var memoMeta = doctype.Meta{Name: "Memo", Naming: "field:title"}

// eventLog records change events with the goroutine-safe order they came in.
type eventLog struct {
	mu  sync.Mutex
	evs []ports.ChangeEvent
}

func (l *eventLog) record(_ context.Context, ev ports.ChangeEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// take returns the events so far, of doctype only, and forgets all.
func (l *eventLog) take(doctypeName string) []ports.ChangeEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ports.ChangeEvent
	for _, ev := range l.evs {
		if ev.DocType == doctypeName {
			out = append(out, ev)
		}
	}
	l.evs = nil
	return out
}

// Create, update and delete through the API — of an app DocType and of a
// framework DocType — each emit exactly one event after commit, with the
// documents before and after, the principal, tenant and the request's id,
// address and user agent. A rolled-back write emits none.
func TestChangeEventsOverHTTP(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Memo](memoMeta))
	log := &eventLog{}
	app.Changes.Subscribe(ports.AllDocTypes, log.record)

	admin := app.As(fmtest.Admin())
	admin.Header.Set("User-Agent", "events-test/1.0")
	request := func(id string) *fmtest.Client {
		admin.Header.Set("X-Request-ID", id)
		return admin
	}
	checkMeta := func(t *testing.T, ev ports.ChangeEvent, requestID string) {
		t.Helper()
		require.NotNil(t, ev.Principal)
		assert.Equal(t, "admin", ev.Principal.ID)
		assert.Equal(t, "default", ev.TenantID)
		assert.Equal(t, requestID, ev.Request.ID)
		assert.Equal(t, "127.0.0.1", ev.Request.ClientIP)
		assert.Equal(t, "events-test/1.0", ev.Request.UserAgent)
		assert.WithinDuration(t, time.Now(), ev.At, time.Minute)
	}

	t.Run("app DocType", func(t *testing.T) {
		request("req-create").Post("/api/v1/resource/Memo", map[string]any{"title": "first"}).RequireStatus(t, http.StatusCreated)
		evs := log.take("Memo")
		require.Len(t, evs, 1)
		assert.Equal(t, ports.ActionCreate, evs[0].Action)
		assert.Equal(t, "first", evs[0].Name)
		assert.Nil(t, evs[0].Before)
		require.IsType(t, &Memo{}, evs[0].After)
		assert.Equal(t, int64(1), evs[0].After.(*Memo).Version)
		checkMeta(t, evs[0], "req-create")

		request("req-update").Patch("/api/v1/resource/Memo/first", map[string]any{"title": "first", "version": 1}).RequireStatus(t, http.StatusOK)
		evs = log.take("Memo")
		require.Len(t, evs, 1)
		assert.Equal(t, ports.ActionWrite, evs[0].Action)
		require.IsType(t, &Memo{}, evs[0].Before)
		assert.Equal(t, int64(1), evs[0].Before.(*Memo).Version)
		assert.Equal(t, int64(2), evs[0].After.(*Memo).Version)
		checkMeta(t, evs[0], "req-update")

		request("req-delete").Delete("/api/v1/resource/Memo/first").RequireStatus(t, http.StatusOK)
		evs = log.take("Memo")
		require.Len(t, evs, 1)
		assert.Equal(t, ports.ActionDelete, evs[0].Action)
		assert.Nil(t, evs[0].After)
		require.IsType(t, &Memo{}, evs[0].Before)
		assert.Equal(t, int64(2), evs[0].Before.(*Memo).Version)
		checkMeta(t, evs[0], "req-delete")
	})

	t.Run("framework DocType (Local User)", func(t *testing.T) {
		created := request("req-user").Post("/api/v1/resource/Local%20User", map[string]any{"email": "bea@example.com", "display_name": "Bea", "is_active": true}).
			RequireStatus(t, http.StatusCreated).Data(t)
		id := created["name"].(string)
		evs := log.take(doctypes.LocalUserDocType)
		require.Len(t, evs, 1)
		assert.Equal(t, ports.ActionCreate, evs[0].Action)
		assert.Equal(t, "bea@example.com", evs[0].After.(*doctypes.LocalUser).Email)
		checkMeta(t, evs[0], "req-user")

		request("req-user-update").Patch("/api/v1/resource/Local%20User/"+id, map[string]any{"display_name": "Beatrice"}).RequireStatus(t, http.StatusOK)
		evs = log.take(doctypes.LocalUserDocType)
		require.Len(t, evs, 1)
		assert.Equal(t, "Bea", evs[0].Before.(*doctypes.LocalUser).DisplayName)
		assert.Equal(t, "Beatrice", evs[0].After.(*doctypes.LocalUser).DisplayName)
		checkMeta(t, evs[0], "req-user-update")

		request("req-user-delete").Delete("/api/v1/resource/Local%20User/"+id).RequireStatus(t, http.StatusOK)
		evs = log.take(doctypes.LocalUserDocType)
		require.Len(t, evs, 1)
		assert.Equal(t, ports.ActionDelete, evs[0].Action)
		assert.Equal(t, "Beatrice", evs[0].Before.(*doctypes.LocalUser).DisplayName)
		checkMeta(t, evs[0], "req-user-delete")
	})

	t.Run("writes outside the resource API emit too", func(t *testing.T) {
		u := app.CreateUser(t, "cid@example.com", "correct horse battery")
		evs := log.take(doctypes.LocalUserDocType)
		require.Len(t, evs, 1)
		assert.Equal(t, u.ID, evs[0].Name)
		assert.True(t, evs[0].Principal.IsSystemUser(), "the CLI path writes as the system")
	})

	t.Run("rolled back", func(t *testing.T) {
		ctx := app.SystemContext(context.Background(), "")
		boom := errors.New("boom")
		err := app.Repository.InTx(ctx, func(ctx context.Context) error {
			require.NoError(t, app.Repository.Create(ctx, "Memo", &Memo{Title: "ghost"}))
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Empty(t, log.take("Memo"))
		admin.Get("/api/v1/resource/Memo/ghost").RequireStatus(t, http.StatusNotFound)

		// A refused write changes nothing and emits nothing either.
		request("req-dup").Post("/api/v1/resource/Memo", map[string]any{"title": "twin"}).RequireStatus(t, http.StatusCreated)
		request("req-dup2").Post("/api/v1/resource/Memo", map[string]any{"title": "twin"}).RequireStatus(t, http.StatusConflict)
		evs := log.take("Memo")
		require.Len(t, evs, 1)
		assert.Equal(t, "req-dup", evs[0].Request.ID)
		assert.False(t, slices.ContainsFunc(evs, func(ev ports.ChangeEvent) bool { return ev.Request.ID == "req-dup2" }))
	})
}
