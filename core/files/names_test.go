package files_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	storagememory "github.com/framework-m/framework-m/adapters/storage/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/ports"
)

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":                      "report.pdf",
		"../../etc/passwd":                "passwd",
		`C:\Users\ann\evil.txt`:           "evil.txt",
		"/abs/x.txt":                      "x.txt",
		"a\x00b\r\n\tc.txt":               "abc.txt",
		`say "hi".txt`:                    "say hi.txt",
		"  .hidden.txt. ":                 "hidden.txt",
		"..":                              "file",
		"":                                "file",
		"\u202egnp.exe":                   "gnp.exe", // right-to-left override dropped
		"résumé.pdf":                      "résumé.pdf",
		"bad\xffutf8.txt":                 "badutf8.txt",
		strings.Repeat("é", 200) + ".pdf": strings.Repeat("é", 125) + ".pdf",
	} {
		got := files.SafeName(in)
		assert.Equal(t, want, got, "%q", in)
		assert.LessOrEqual(t, len(got), files.MaxFileName)
	}
}

func TestExt(t *testing.T) {
	assert.Equal(t, "pdf", files.Ext("a.PDF"))
	assert.Equal(t, "gz", files.Ext("a.tar.gz"))
	assert.Equal(t, "", files.Ext("README"))
}

func TestKeys(t *testing.T) {
	now := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	k := files.NewKey("acme", "My Report (final).pdf", now)
	assert.NoError(t, files.CheckKey(k))
	assert.True(t, strings.HasPrefix(k, "files/acme/2026/11/30/"), k)
	assert.True(t, strings.HasSuffix(k, "-My_Report__final_.pdf"), k)
	assert.NotEqual(t, k, files.NewKey("acme", "My Report (final).pdf", now), "random")
	assert.True(t, files.InTenant(k, "acme"))
	assert.False(t, files.InTenant(k, "acm"), "a tenant whose id prefixes another's")

	// Tenant ids that are not key characters, or could pose as another's
	// encoding, get a segment of their own.
	segs := map[string]bool{}
	for _, tenant := range []string{"acme", "a/b", "..", "_61", "a", "é", "a b", strings.Repeat("x", 300)} {
		p := files.KeyPrefix(tenant)
		assert.NoError(t, files.CheckPrefix(p), tenant)
		assert.False(t, segs[p], "%q shares a prefix", tenant)
		segs[p] = true
		assert.NoError(t, files.CheckKey(files.NewKey(tenant, "../x.txt", now)), tenant)
	}
	assert.NotEqual(t, files.KeyPrefix("a"), files.KeyPrefix("_61"), `"_61" is not the encoding of "a"`)
}

func TestCheckKey(t *testing.T) {
	for _, bad := range []string{"", "/abs", "a/", "a//b", "../x", "a/../b", "a/./b", `a\b`, "a\x00b", "C:", "a b", "ü", strings.Repeat("a", ports.MaxStorageKey+1)} {
		err := files.CheckKey(bad)
		assert.ErrorIs(t, err, core.ErrValidation, "%q", bad)
	}
	for _, good := range []string{"a", "files/t/2026/01/02/abc-x.pdf", ".tmp", "a..b", strings.Repeat("a", ports.MaxStorageKey)} {
		assert.NoError(t, files.CheckKey(good), good)
	}
	assert.NoError(t, files.CheckPrefix("files/t/"))
	assert.Error(t, files.CheckPrefix("files/t"))
	assert.Error(t, files.CheckPrefix("/"))
}

func TestDispositionAndActive(t *testing.T) {
	assert.Equal(t, "attachment; filename=a.pdf", files.Disposition("a.pdf", false))
	assert.Equal(t, `inline; filename="a b.pdf"`, files.Disposition("a b.pdf", true))
	assert.Equal(t, "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf", files.Disposition("résumé.pdf", false))
	for _, ct := range []string{"text/html; charset=utf-8", "image/svg+xml", "application/xml", "text/xml", "application/javascript", "application/atom+xml", "", "garbage;;"} {
		assert.True(t, files.Active(ct), ct)
	}
	for _, ct := range []string{"application/pdf", "image/png", "text/plain; charset=utf-8", "text/csv"} {
		assert.False(t, files.Active(ct), ct)
	}
}

func TestExists(t *testing.T) {
	store := storagememory.New()
	ctx := context.Background()
	ok, err := files.Exists(ctx, store, "files/t/a")
	assert.NoError(t, err)
	assert.False(t, ok)
	_, err = store.Put(ctx, "files/t/a", strings.NewReader("x"), 1, ports.PutOptions{})
	assert.NoError(t, err)
	ok, err = files.Exists(ctx, store, "files/t/a")
	assert.NoError(t, err)
	assert.True(t, ok)
	_, err = files.Exists(ctx, store, "../a")
	assert.ErrorIs(t, err, core.ErrValidation, "a bad key is an error, not a no")
}
