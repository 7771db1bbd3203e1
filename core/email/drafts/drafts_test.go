package drafts_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/ports"
)

func addr(a, name string) ports.EmailAddress { return ports.EmailAddress{Address: a, Name: name} }

func TestMergeContent(t *testing.T) {
	server := drafts.Content{
		AccountID: "work",
		To:        []ports.EmailAddress{addr("ann@example.com", ""), addr("bob@example.com", "Bob")},
		Cc:        []ports.EmailAddress{addr("cc@example.com", "Old")},
		Subject:   "server subject", Body: "server body", BodyHTML: "<p>server</p>",
		Tags: []string{"a", "b"}, Attachments: []string{"f1"}, References: []string{"<r1@x>"},
	}
	incoming := drafts.Content{
		AccountID: "home",
		To:        []ports.EmailAddress{addr("ANN@example.com", "Ann"), addr("carl@example.com", "")},
		Cc:        []ports.EmailAddress{addr("CC@example.com", "New")},
		Bcc:       []ports.EmailAddress{addr("hidden@example.com", "")},
		Subject:   "incoming subject", Body: "incoming body",
		Tags: []string{"b", "c"}, Attachments: []string{"f2", "f1"}, References: []string{"<r2@x>"},
	}

	m := drafts.MergeContent(server, incoming, true)
	assert.Equal(t, []ports.EmailAddress{addr("ann@example.com", "Ann"), addr("bob@example.com", "Bob"), addr("carl@example.com", "")}, m.To,
		"united ignoring case, the server's order first, a missing name filled")
	assert.Equal(t, []ports.EmailAddress{addr("cc@example.com", "New")}, m.Cc, "the newer's name wins")
	assert.Equal(t, []ports.EmailAddress{addr("hidden@example.com", "")}, m.Bcc)
	assert.Equal(t, "incoming subject", m.Subject)
	assert.Equal(t, "incoming body", m.Body)
	assert.Empty(t, m.BodyHTML, "the bodies are the newer's, even empty")
	assert.Equal(t, "home", m.AccountID)
	assert.Equal(t, []string{"a", "b", "c"}, m.Tags)
	assert.Equal(t, []string{"f1", "f2"}, m.Attachments)
	assert.Equal(t, []string{"<r1@x>", "<r2@x>"}, m.References)

	m = drafts.MergeContent(server, incoming, false)
	assert.Equal(t, "server subject", m.Subject, "the server's copy is newer")
	assert.Equal(t, "<p>server</p>", m.BodyHTML)
	assert.Equal(t, "work", m.AccountID)
	assert.Equal(t, []ports.EmailAddress{addr("cc@example.com", "Old")}, m.Cc, "the newer's name wins")
	assert.Equal(t, []ports.EmailAddress{addr("ann@example.com", "Ann"), addr("bob@example.com", "Bob"), addr("carl@example.com", "")}, m.To,
		"a name only the older copy has is kept")
	assert.Equal(t, []string{"<r2@x>", "<r1@x>"}, m.References, "the newer's thread last")

	m = drafts.MergeContent(drafts.Content{}, drafts.Content{}, true)
	assert.NotNil(t, m.To)
	assert.NotNil(t, m.Tags)
}

func TestSize(t *testing.T) {
	empty := int64(len(`{"subject":"","body":"","body_html":"","to":[],"cc":[],"bcc":[],"tags":[],"references":[]}`))
	for _, tc := range []struct {
		name string
		c    drafts.Content
		want int64
	}{
		{"empty", drafts.Content{}, empty},
		{"plain subject", drafts.Content{Subject: "hello"}, empty + 5},
		{"HTML is not escaped", drafts.Content{BodyHTML: "<b>&</b>"}, empty + 8},
		{"quotes are", drafts.Content{Body: `say "hi"`}, empty + 10},
		{"UTF-8 bytes", drafts.Content{Subject: "héllo"}, empty + 6},
		{"recipient", drafts.Content{To: []ports.EmailAddress{addr("a@b.c", "")}}, empty + int64(len(`{"address":"a@b.c"}`))},
		{"tags and references", drafts.Content{Tags: []string{"x"}, References: []string{"<r@x>"}}, empty + 3 + 7},
		{"not counted", drafts.Content{AccountID: "acc", Attachments: []string{"file"}}, empty},
	} {
		assert.Equal(t, tc.want, drafts.Size(tc.c), tc.name)
	}
}

func TestFieldsChanged(t *testing.T) {
	now := time.Now()
	a := drafts.Content{Subject: "x", To: []ports.EmailAddress{addr("a@b.c", "")}}
	b := a
	assert.Empty(t, drafts.FieldsChanged(a, b))
	b.Subject, b.Tags, b.ScheduledSendTime = "y", []string{"t"}, &now
	assert.Equal(t, []string{"subject", "tags", "scheduled_send_time"}, drafts.FieldsChanged(a, b))
	assert.Empty(t, drafts.FieldsChanged(drafts.Content{}, drafts.Content{To: []ports.EmailAddress{}}), "nil and empty are the same")
}

func TestSnippet(t *testing.T) {
	assert.Equal(t, "Hello there", drafts.Snippet(drafts.Content{Body: "  Hello\n\n  there "}, 50))
	assert.Equal(t, "Hi you", drafts.Snippet(drafts.Content{BodyHTML: "<p>Hi</p><b>you</b>"}, 50))
	assert.Equal(t, "abc", drafts.Snippet(drafts.Content{Body: "abcdef"}, 3))
}

// env is a drafts service over an in-memory repository.
type env struct {
	svc   *drafts.Service
	repo  *memrepo.Repository
	queue *fakeQueue
	files *fakeFiles
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fakeQueue struct {
	mu   sync.Mutex
	reqs []email.Request
}

func (q *fakeQueue) QueueEmail(_ context.Context, req email.Request) (*ports.QueuedEmail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		return nil, core.Invalid("to", "at least one recipient")
	}
	if len(req.HTML) > 5 && strings.Contains(req.HTML, "refuse") {
		return nil, core.Invalid("body", "refused")
	}
	q.reqs = append(q.reqs, req)
	return &ports.QueuedEmail{ID: fmt.Sprintf("e%d", len(q.reqs)), MessageID: "m@x", Status: ports.EmailQueued}, nil
}

type fakeFiles struct {
	mu      sync.Mutex
	known   map[string]bool
	deleted []string
}

func (f *fakeFiles) Check(_ context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if !f.known[id] {
			return core.Invalidf("attachments", "file %q not found", id)
		}
	}
	return nil
}

func (f *fakeFiles) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.known[id] {
		return core.ErrNotFound
	}
	delete(f.known, id)
	f.deleted = append(f.deleted, id)
	return nil
}

func newEnv(t *testing.T, opts drafts.Options) *env {
	t.Helper()
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.RegisterEmailDrafts(reg))
	e := &env{repo: memrepo.New(reg), queue: &fakeQueue{}, files: &fakeFiles{known: map[string]bool{"f1": true, "f2": true, "f3": true}},
		clock: &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}
	opts.Now = e.clock.now
	e.svc = drafts.New(e.repo, e.queue, e.files, opts)
	return e
}

func as(tenant, user string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: user})
}

func fields(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *core.ValidationError
	require.True(t, errors.As(err, &ve), "want a validation error, got %v", err)
	return ve.FieldMap()
}

func TestSaveVersionsAndStrategies(t *testing.T) {
	e := newEnv(t, drafts.Options{})
	ann := as("t1", "ann")
	res, err := e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "one", To: []ports.EmailAddress{addr("x@example.com", "X")}}, DeviceID: "laptop"})
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Equal(t, int64(1), res.Draft.Version)

	res, err = e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "two", To: []ports.EmailAddress{addr("x@example.com", "X")}}, Version: 1, DeviceID: "laptop"})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Draft.Version)
	assert.False(t, res.Conflict)

	_, err = e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "stale"}, Version: 1, DeviceID: "phone"})
	var ce *drafts.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, core.ErrConflict)
	assert.Equal(t, "two", ce.Server.Subject)
	assert.Equal(t, int64(2), ce.Server.Version)

	res, err = e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "mine"}, Version: 1, Strategy: drafts.RemoteWins})
	require.NoError(t, err)
	assert.Equal(t, "two", res.Draft.Subject)
	assert.Equal(t, int64(3), res.Draft.Version, "the server's copy saved again: the version moves on")
	assert.Equal(t, drafts.RemoteWins, res.Resolution)

	e.clock.add(time.Minute)
	older := e.clock.now().Add(-time.Hour)
	res, err = e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "older", To: []ports.EmailAddress{addr("y@example.com", "")}}, Version: 1, Strategy: drafts.Merge, SavedAt: &older})
	require.NoError(t, err)
	assert.Equal(t, "two", res.Draft.Subject, "the server's copy is newer")
	assert.Len(t, res.Draft.To, 2)
	assert.Equal(t, int64(4), res.Draft.Version)

	res, err = e.svc.Save(ann, "d1", drafts.SaveInput{Content: drafts.Content{Subject: "forced"}, Version: 1, Strategy: drafts.LocalWins})
	require.NoError(t, err)
	assert.Equal(t, "forced", res.Draft.Subject)
	assert.Empty(t, res.Draft.To)
	assert.Equal(t, int64(5), res.Draft.Version)

	hist, err := e.svc.History(ann, "d1")
	require.NoError(t, err)
	require.Len(t, hist, 5)
	assert.Equal(t, drafts.LocalWins, hist[0].Resolution)
	assert.True(t, hist[0].Conflict)
	assert.Equal(t, []string{"to", "subject"}, hist[0].FieldsChanged)
	assert.Equal(t, drafts.RemoteWins, hist[2].Resolution)
	assert.Empty(t, hist[2].FieldsChanged)
	assert.Equal(t, []string{"to", "subject"}, hist[4].FieldsChanged, "the first save")

	// Others see nothing.
	bob := as("t1", "bob")
	for _, err := range []error{
		func() error { _, err := e.svc.Get(bob, "d1"); return err }(),
		func() error { _, err := e.svc.Save(bob, "d1", drafts.SaveInput{}); return err }(),
		func() error { _, err := e.svc.History(bob, "d1"); return err }(),
		func() error { _, err := e.svc.Send(bob, "d1"); return err }(),
		e.svc.Delete(bob, "d1"),
		func() error { _, err := e.svc.Get(as("t2", "ann"), "d1"); return err }(),
	} {
		assert.ErrorIs(t, err, core.ErrNotFound)
	}
	_, err = e.svc.Save(ann, "gone", drafts.SaveInput{Version: 3})
	assert.ErrorIs(t, err, core.ErrNotFound, "a stale save of a deleted draft")
}

func TestSaveValidation(t *testing.T) {
	e := newEnv(t, drafts.Options{MaxDraftBytes: 1 << 20})
	ann := as("t1", "ann")
	for _, tc := range []struct {
		in    drafts.SaveInput
		id    string
		field string
	}{
		{drafts.SaveInput{Content: drafts.Content{To: []ports.EmailAddress{addr("a@b.c", ""), addr("nope", "")}}}, "d", "to[1]"},
		{drafts.SaveInput{Content: drafts.Content{Subject: "a\nb"}}, "d", "subject"},
		{drafts.SaveInput{Content: drafts.Content{Body: "a\x00b"}}, "d", "body"},
		{drafts.SaveInput{Content: drafts.Content{Tags: []string{strings.Repeat("x", 101)}}}, "d", "tags[0]"},
		{drafts.SaveInput{Content: drafts.Content{Tags: strings.Fields(strings.Repeat("t ", 51) + "a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y")}}, "d", "tags"},
		{drafts.SaveInput{DeviceID: strings.Repeat("d", 201)}, "d", "device_id"},
		{drafts.SaveInput{Strategy: "mine"}, "d", "strategy"},
		{drafts.SaveInput{}, "a/b", "id"},
		{drafts.SaveInput{}, strings.Repeat("i", 141), "id"},
		{drafts.SaveInput{}, "export", "id"},
		{drafts.SaveInput{Content: drafts.Content{Attachments: []string{"nope"}}}, "d", "attachments"},
	} {
		_, err := e.svc.Save(ann, tc.id, tc.in)
		assert.Contains(t, fields(t, err), tc.field)
	}
	many := make([]ports.EmailAddress, 501)
	for i := range many {
		many[i] = addr(fmt.Sprintf("u%d@example.com", i), "")
	}
	_, err := e.svc.Save(ann, "d", drafts.SaveInput{Content: drafts.Content{To: many}})
	assert.Contains(t, fields(t, err), "to")

	_, err = e.svc.Save(ann, "d", drafts.SaveInput{Content: drafts.Content{Body: strings.Repeat("x", 1<<20)}})
	assert.ErrorIs(t, err, core.ErrPayloadTooBig)
	_, err = e.svc.Get(ann, "d")
	assert.ErrorIs(t, err, core.ErrNotFound, "nothing saved")

	noFiles := drafts.New(e.repo, e.queue, nil, drafts.Options{})
	_, err = noFiles.Save(ann, "d", drafts.SaveInput{Content: drafts.Content{Attachments: []string{"f1"}}})
	assert.Contains(t, fields(t, err), "attachments")
}

func TestHistoryPrunedAndRecovered(t *testing.T) {
	e := newEnv(t, drafts.Options{MaxHistory: 3, MaxRecoveryAge: time.Hour})
	ann := as("t1", "ann")
	var v int64
	for i := range 5 {
		res, err := e.svc.Save(ann, "d", drafts.SaveInput{Content: drafts.Content{Subject: fmt.Sprintf("s%d", i)}, Version: v})
		require.NoError(t, err)
		v = res.Draft.Version
		e.clock.add(time.Minute)
	}
	hist, err := e.svc.History(ann, "d")
	require.NoError(t, err)
	require.Len(t, hist, 3, "max history")
	assert.Equal(t, "s4", hist[0].Subject)
	assert.Equal(t, "s2", hist[2].Subject)

	res, err := e.svc.Recover(ann, "d", hist[2].ID)
	require.NoError(t, err)
	assert.Equal(t, "s2", res.Draft.Subject)
	assert.Equal(t, v+1, res.Draft.Version)
	sv, err := e.svc.SaveOf(ann, "d", res.SaveID)
	require.NoError(t, err)
	assert.Equal(t, drafts.ResolutionRecover, sv.Resolution)
	assert.Equal(t, hist[2].ID, sv.RecoveredFrom)
	assert.Equal(t, "s2", sv.Snapshot.Subject)

	hist, err = e.svc.History(ann, "d")
	require.NoError(t, err)
	e.clock.add(2 * time.Hour)
	_, err = e.svc.Recover(ann, "d", hist[1].ID)
	assert.Contains(t, fields(t, err)["save_id"], "older than 1h0m0s")
	_, err = e.svc.Recover(as("t1", "bob"), "d", hist[1].ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = e.svc.Recover(ann, "d", "nope")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

func TestSendAndDelete(t *testing.T) {
	e := newEnv(t, drafts.Options{})
	ann := as("t1", "ann")
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	_, err := e.svc.Save(ann, "d", drafts.SaveInput{Content: drafts.Content{
		To: []ports.EmailAddress{addr("x@example.com", "X")}, Subject: "hi", Body: "text", BodyHTML: "<p>html</p>",
		Attachments: []string{"f1"}, References: []string{"<a@x>", "<b@x>"}, ScheduledSendTime: &at,
	}})
	require.NoError(t, err)
	sent, err := e.svc.Send(ann, "d")
	require.NoError(t, err)
	assert.Equal(t, ports.EmailQueued, sent.Status)
	require.Len(t, e.queue.reqs, 1)
	req := e.queue.reqs[0]
	assert.Equal(t, "<p>html</p>", req.HTML)
	assert.Equal(t, "text", req.Text)
	assert.Equal(t, "<b@x>", req.InReplyTo)
	assert.Equal(t, []string{"f1"}, req.Attachments)
	assert.True(t, req.SendAfter.Equal(at))
	_, err = e.svc.Get(ann, "d")
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.Empty(t, e.files.deleted, "the email needs its files")
	saves, err := e.repo.List(ann, doctypes.EmailDraftSaveDocType, ports.Query{})
	require.NoError(t, err)
	assert.Zero(t, saves.Total, "the history went with it")

	_, err = e.svc.Save(ann, "empty", drafts.SaveInput{Content: drafts.Content{Subject: "nobody"}})
	require.NoError(t, err)
	_, err = e.svc.Send(ann, "empty")
	assert.Contains(t, fields(t, err), "to")
	_, err = e.svc.Save(ann, "refused", drafts.SaveInput{Content: drafts.Content{To: []ports.EmailAddress{addr("x@example.com", "")}, BodyHTML: "refuse me"}})
	require.NoError(t, err)
	_, err = e.svc.Send(ann, "refused")
	assert.Contains(t, fields(t, err), "body_html", "the queue's field named as the draft's")
	_, err = e.svc.Get(ann, "refused")
	assert.NoError(t, err, "a refused draft stays")

	_, err = e.svc.Save(ann, "a", drafts.SaveInput{Content: drafts.Content{Attachments: []string{"f2", "f3"}}})
	require.NoError(t, err)
	_, err = e.svc.Save(ann, "b", drafts.SaveInput{Content: drafts.Content{Attachments: []string{"f3"}}})
	require.NoError(t, err)
	require.NoError(t, e.svc.Delete(ann, "a"))
	assert.Equal(t, []string{"f2"}, e.files.deleted, "f3 is still another draft's")
	require.NoError(t, e.svc.Delete(ann, "b"))
	assert.Equal(t, []string{"f2", "f3"}, e.files.deleted)
}

func TestListFilters(t *testing.T) {
	e := newEnv(t, drafts.Options{})
	ann := as("t1", "ann")
	for i, tc := range []struct {
		account string
		tags    []string
	}{{"work", []string{"x", "a_b"}}, {"work", []string{"y"}}, {"home", []string{"x"}}, {"home", []string{"axb"}}} {
		_, err := e.svc.Save(ann, fmt.Sprintf("d%d", i), drafts.SaveInput{Content: drafts.Content{AccountID: tc.account, Tags: tc.tags}})
		require.NoError(t, err)
		e.clock.add(time.Second)
	}
	_, err := e.svc.Save(as("t1", "bob"), "bobs", drafts.SaveInput{Content: drafts.Content{AccountID: "work"}})
	require.NoError(t, err)
	ids := func(l []drafts.Summary) []string {
		out := []string{}
		for _, s := range l {
			out = append(out, s.ID)
		}
		return out
	}
	l, total, err := e.svc.List(ann, drafts.Filter{})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	assert.Equal(t, []string{"d3", "d2", "d1", "d0"}, ids(l), "newest first, only ann's")
	l, total, err = e.svc.List(ann, drafts.Filter{AccountID: "work"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d1", "d0"}, ids(l))
	assert.Equal(t, 2, total)
	l, _, err = e.svc.List(ann, drafts.Filter{Tag: "x"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d2", "d0"}, ids(l))
	l, _, err = e.svc.List(ann, drafts.Filter{Tag: "a_b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d0"}, ids(l), "a tag matches exactly")
	l, total, err = e.svc.List(ann, drafts.Filter{Limit: 1, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"d2"}, ids(l))
	assert.Equal(t, 4, total)
	_, _, err = e.svc.List(ann, drafts.Filter{Limit: 101})
	assert.Contains(t, fields(t, err), "limit")
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestExportImport(t *testing.T) {
	e := newEnv(t, drafts.Options{})
	ann, bob := as("t1", "ann"), as("t1", "bob")
	for i := range 3 {
		_, err := e.svc.Save(ann, fmt.Sprintf("d%d", i), drafts.SaveInput{Content: drafts.Content{
			Subject: fmt.Sprintf("subject %d", i), Body: strings.Repeat("text ", 200), BodyHTML: "<p>x</p>",
			To: []ports.EmailAddress{addr("x@example.com", "X")}, Tags: []string{"t"},
		}})
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	stats, err := e.svc.Export(ann, &buf)
	require.NoError(t, err)
	assert.Equal(t, 3, stats.Count)
	assert.Equal(t, int64(buf.Len()), stats.Compressed)
	assert.Greater(t, stats.Ratio(), 2.0)
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	var b struct {
		Format    string         `json:"format"`
		Count     int            `json:"count"`
		TotalSize int64          `json:"total_size"`
		Drafts    []drafts.Draft `json:"drafts"`
	}
	require.NoError(t, json.NewDecoder(zr).Decode(&b))
	assert.Equal(t, drafts.BundleFormat, b.Format)
	assert.Equal(t, 3, b.Count)
	assert.Equal(t, stats.TotalSize, b.TotalSize)
	require.Len(t, b.Drafts, 3)

	// Bob imports ann's bundle: the ids are ann's, so his copies get new ones.
	res, err := e.svc.Import(bob, bytes.NewReader(buf.Bytes()), "")
	require.NoError(t, err)
	assert.Equal(t, drafts.ImportResult{Imported: 3}, *res)
	l, total, err := e.svc.List(bob, drafts.Filter{})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	for _, s := range l {
		assert.NotContains(t, []string{"d0", "d1", "d2"}, s.ID)
	}
	d, err := e.svc.Get(ann, "d0")
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Version, "ann's drafts untouched")

	// Ann imports her own bundle back: every id conflicts.
	e.clock.add(time.Minute)
	_, err = e.svc.Save(ann, "d0", drafts.SaveInput{Content: drafts.Content{Subject: "changed", To: []ports.EmailAddress{addr("y@example.com", "")}}, Version: 1})
	require.NoError(t, err)
	res, err = e.svc.Import(ann, bytes.NewReader(buf.Bytes()), drafts.RemoteWins)
	require.NoError(t, err)
	assert.Equal(t, drafts.ImportResult{Skipped: 3, Conflicts: 3}, *res)
	res, err = e.svc.Import(ann, bytes.NewReader(buf.Bytes()), drafts.Merge)
	require.NoError(t, err)
	assert.Equal(t, drafts.ImportResult{Merged: 3, Conflicts: 3}, *res)
	d, err = e.svc.Get(ann, "d0")
	require.NoError(t, err)
	assert.Equal(t, "changed", d.Subject, "the server's save is newer than the bundle's")
	assert.Len(t, d.To, 2)
	res, err = e.svc.Import(ann, bytes.NewReader(buf.Bytes()), drafts.LocalWins)
	require.NoError(t, err)
	assert.Equal(t, drafts.ImportResult{Imported: 3, Conflicts: 3}, *res)
	d, err = e.svc.Get(ann, "d0")
	require.NoError(t, err)
	assert.Equal(t, "subject 0", d.Subject)

	// Malformed bundles import nothing.
	for name, body := range map[string][]byte{
		"not gzip":    []byte("plain"),
		"bad JSON":    gz(t, "{nope"),
		"format":      gz(t, `{"format":"other/1","drafts":[]}`),
		"no drafts":   gz(t, `{"format":"framework-m.email-drafts/1"}`),
		"bad address": gz(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n1","subject":"ok"},{"id":"n2","to":[{"address":"nope"}]}]}`),
		"duplicate":   gz(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n1"},{"id":"n1"}]}`),
		"type":        gz(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n1","subject":3}]}`),
		"count":       gz(t, `{"format":"framework-m.email-drafts/1","count":2,"drafts":[{"id":"n1"}]}`),
	} {
		_, err := e.svc.Import(ann, bytes.NewReader(body), "")
		assert.ErrorIs(t, err, core.ErrValidation, name)
	}
	_, err = e.svc.Get(ann, "n1")
	assert.ErrorIs(t, err, core.ErrNotFound, "nothing imported")
	_, err = e.svc.Import(ann, bytes.NewReader(buf.Bytes()), "theirs")
	assert.Contains(t, fields(t, err), "strategy")

	small := drafts.New(e.repo, e.queue, e.files, drafts.Options{MaxDraftBytes: 1 << 20, MaxImportBytes: 1 << 20})
	huge := gz(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"big","body":"`+strings.Repeat("x", 2<<20)+`"}]}`)
	_, err = small.Import(ann, bytes.NewReader(huge), "")
	assert.ErrorIs(t, err, core.ErrPayloadTooBig)
}
