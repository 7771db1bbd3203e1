package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/audit/file"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest/audittest"
	"github.com/framework-m/framework-m/ports"
)

// open returns a Log writing dir/audit.jsonl, closed at the end of the test.
func open(t *testing.T, path, maxSize string, maxBackups int) *file.Log {
	t.Helper()
	l, err := file.New(file.Config{Path: path, MaxSize: maxSize, MaxBackups: maxBackups})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	return l
}

func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) ports.AuditLog {
		return open(t, filepath.Join(t.TempDir(), "audit.jsonl"), "100MB", 10)
	})
}

func TestContractWhileRotating(t *testing.T) {
	audittest.Run(t, func(t *testing.T) ports.AuditLog {
		return open(t, filepath.Join(t.TempDir(), "audit.jsonl"), "4KB", 1000)
	})
}

func TestContractSharedFile(t *testing.T) {
	shared := open(t, filepath.Join(t.TempDir(), "audit.jsonl"), "16KB", 1000)
	audittest.Run(t, func(t *testing.T) ports.AuditLog { return shared })
}

// sample returns an entry of a fixed line length for a given n.
func sample(n int) ports.AuditEntry {
	return ports.AuditEntry{
		ID:        fmt.Sprintf("id-%06d", n),
		Timestamp: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second),
		TenantID:  "t1",
		UserID:    "u1",
		Action:    ports.AuditUpdate,
		DocType:   "Invoice",
		Changes:   map[string][2]any{"status": {"Draft", "Submitted"}},
		Metadata:  map[string]any{"request_id": fmt.Sprintf("req-%06d", n)},
	}
}

func lineLen(t *testing.T, e ports.AuditEntry) int {
	t.Helper()
	b, err := json.Marshal(e)
	require.NoError(t, err)
	return len(b) + 1
}

// readEntries returns the entries of the file at path, requiring every
// line to be a whole entry and the file to end with a newline.
func readEntries(t *testing.T, path string) []ports.AuditEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	if len(data) == 0 {
		return nil
	}
	require.Equal(t, byte('\n'), data[len(data)-1], "%s ends with a whole line", path)
	var out []ports.AuditEntry
	for i, line := range bytes.Split(data[:len(data)-1], []byte{'\n'}) {
		var e ports.AuditEntry
		require.NoError(t, json.Unmarshal(line, &e), "%s line %d: %q", path, i+1, line)
		out = append(out, e)
	}
	return out
}

func ids(es []ports.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestConcurrentWritersNeverTearOrLoseLines(t *testing.T) {
	const writers, perWriter = 8, 10_000
	const maxSize = 1 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := file.New(file.Config{Path: path, MaxSize: "1MB", MaxBackups: 100})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i, batch := 0, 0; i < perWriter; batch++ {
				size := min(1+r.IntN(50), perWriter-i)
				entries := make([]ports.AuditEntry, size)
				for j := range entries {
					entries[j] = ports.AuditEntry{
						ID:        fmt.Sprintf("w%d-%05d", w, i+j),
						Timestamp: time.Now(),
						TenantID:  "t1",
						UserID:    fmt.Sprintf("writer-%d", w),
						Action:    ports.AuditUpdate,
						DocType:   "Invoice",
						// A newline inside a value must not make a second line.
						Changes:  map[string][2]any{"note": {"line one\nline two", i + j}},
						Metadata: map[string]any{"batch": fmt.Sprintf("w%d-b%d", w, batch), "size": size, "pos": j},
					}
				}
				if err := l.Log(context.Background(), entries...); err != nil {
					errs <- err
					return
				}
				i += size
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	names, err := filepath.Glob(path + "*")
	require.NoError(t, err)
	require.Greater(t, len(names), 10, "the files were rotated")
	require.LessOrEqual(t, len(names), 101)
	seen := map[string]bool{}
	batchFile := map[string]string{}
	batchCount := map[string]int{}
	for _, name := range names {
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.LessOrEqual(t, st.Size(), int64(maxSize), "%s is within max_size", name)
		prevBatch, prevPos := "", -1
		for _, e := range readEntries(t, name) {
			require.False(t, seen[e.ID], "entry %s written twice", e.ID)
			seen[e.ID] = true
			b := e.Metadata["batch"].(string)
			pos := int(e.Metadata["pos"].(float64))
			if f, ok := batchFile[b]; ok {
				require.Equal(t, f, name, "batch %s split between files", b)
				require.Equal(t, prevBatch, b, "batch %s interleaved with another", b)
				require.Equal(t, prevPos+1, pos, "batch %s out of order", b)
			} else {
				require.Equal(t, 0, pos, "batch %s starts with its first entry", b)
			}
			batchFile[b] = name
			batchCount[b]++
			prevBatch, prevPos = b, pos
			require.Equal(t, [2]any{"line one\nline two", e.Changes["note"][1]}, e.Changes["note"])
		}
	}
	assert.Len(t, seen, writers*perWriter, "every entry is in the files once")
	for w := range writers {
		for i := range perWriter {
			require.True(t, seen[fmt.Sprintf("w%d-%05d", w, i)], "entry w%d-%05d is missing", w, i)
		}
	}
}

func TestRotationNumbersBackupsAndDropsTheOldest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l := open(t, path, "1KB", 3)
	perFile := 1024 / lineLen(t, sample(0))
	require.GreaterOrEqual(t, perFile, 2)
	const n = 20
	for i := range n {
		require.NoError(t, l.Log(context.Background(), sample(i)))
	}

	// Files hold perFile lines each, the last one the rest.
	inCurrent := n % perFile
	if inCurrent == 0 {
		inCurrent = perFile
	}
	want := map[string][]string{}
	next := n - inCurrent
	want[path] = ids(samples(next, n))
	for i := 1; i <= 3; i++ {
		want[fmt.Sprintf("%s.%d", path, i)] = ids(samples(next-perFile, next))
		next -= perFile
	}
	for name, w := range want {
		assert.Equal(t, w, ids(readEntries(t, name)), name)
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.LessOrEqual(t, st.Size(), int64(1024))
	}
	_, err := os.Stat(path + ".4")
	assert.ErrorIs(t, err, os.ErrNotExist, "no backup past max_backups")
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Len(t, names, 4)

	res, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 100})
	require.NoError(t, err)
	assert.Equal(t, int64(inCurrent+3*perFile), res.Total, "Query reads the current file and the backups")
	assert.Equal(t, sample(n-1).ID, res.Entries[0].ID)
	assert.Equal(t, sample(next).ID, res.Entries[len(res.Entries)-1].ID)
}

func samples(from, to int) []ports.AuditEntry {
	var out []ports.AuditEntry
	for i := from; i < to; i++ {
		out = append(out, sample(i))
	}
	return out
}

func TestRotationRemovesBackupsPastMaxBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	write := func(name string, es ...ports.AuditEntry) {
		var b bytes.Buffer
		for _, e := range es {
			line, err := json.Marshal(e)
			require.NoError(t, err)
			b.Write(append(line, '\n'))
		}
		require.NoError(t, os.WriteFile(name, b.Bytes(), 0o640))
	}
	write(path, sample(10))
	for i := 1; i <= 5; i++ {
		write(fmt.Sprintf("%s.%d", path, i), sample(10-i))
	}
	write(path+".01", sample(99)) // not a backup of this log
	write(path+".x", sample(98))

	l := open(t, path, "1KB", 2)
	require.NoError(t, l.Log(context.Background(), samples(11, 11+1024/lineLen(t, sample(0)))...))

	assert.Equal(t, []string{sample(10).ID}, ids(readEntries(t, path+".1")))
	assert.Equal(t, []string{sample(9).ID}, ids(readEntries(t, path+".2")))
	for i := 3; i <= 5; i++ {
		_, err := os.Stat(fmt.Sprintf("%s.%d", path, i))
		assert.ErrorIs(t, err, os.ErrNotExist, "backup %d is past max_backups", i)
	}
	assert.FileExists(t, path+".01")
	assert.FileExists(t, path+".x")
}

func TestBatchLargerThanMaxSizeGoesWholeIntoOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, "1KB", 5)
	ctx := context.Background()
	big := samples(1, 21)
	require.Greater(t, len(big)*lineLen(t, big[0]), 1024)

	require.NoError(t, l.Log(ctx, sample(0)))
	require.NoError(t, l.Log(ctx, big...))
	assert.Equal(t, ids(big), ids(readEntries(t, path)), "the batch is whole in the new file")
	assert.Equal(t, []string{sample(0).ID}, ids(readEntries(t, path+".1")))

	require.NoError(t, l.Log(ctx, sample(21)))
	assert.Equal(t, []string{sample(21).ID}, ids(readEntries(t, path)))
	assert.Equal(t, ids(big), ids(readEntries(t, path+".1")))
	assert.Equal(t, []string{sample(0).ID}, ids(readEntries(t, path+".2")))

	// Into an empty file a big batch goes without a rotation.
	path2 := filepath.Join(t.TempDir(), "audit.jsonl")
	l2 := open(t, path2, "1KB", 5)
	require.NoError(t, l2.Log(ctx, big...))
	assert.Equal(t, ids(big), ids(readEntries(t, path2)))
	assert.NoFileExists(t, path2+".1")
}

func TestCloseThenReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	ctx := context.Background()
	l, err := file.New(file.Config{Path: path, MaxSize: "1MB", MaxBackups: 2})
	require.NoError(t, err)
	require.NoError(t, l.Log(ctx, samples(0, 3)...))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "closing again does nothing")
	require.Error(t, l.Log(ctx, sample(3)), "Log after Close fails")
	res, err := l.Query(ctx, ports.AuditFilter{}, ports.AuditPage{Limit: 10})
	require.NoError(t, err, "Query after Close still reads")
	assert.Equal(t, int64(3), res.Total)

	l = open(t, path, "1MB", 2)
	require.NoError(t, l.Log(ctx, samples(3, 5)...))
	assert.Equal(t, ids(samples(0, 5)), ids(readEntries(t, path)))
	res, err = l.Query(ctx, ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.Total)
	assert.Equal(t, sample(4).ID, res.Entries[0].ID)
}

func TestTornLastLineIsEndedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	whole, err := json.Marshal(sample(0))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(append(whole, '\n'), `{"id":"torn","tenant_id":"t`...), 0o640))

	l := open(t, path, "1MB", 2)
	require.NoError(t, l.Log(context.Background(), sample(1)))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, `{"id":"torn","tenant_id":"t`, lines[1], "the torn line stays alone")

	res, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{sample(1).ID, sample(0).ID}, ids(res.Entries), "Query skips the torn line")
}

func TestQuerySkipsUnreadableAndOverlongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var b bytes.Buffer
	for _, part := range [][]byte{
		mustJSON(t, sample(0)),
		[]byte("not json"),
		[]byte(strings.Repeat("x", file.MaxLine+10)),
		[]byte(`{"id":"long","tenant_id":"t1","action":"read","timestamp":"2025-01-01T00:00:00Z","metadata":{"pad":"` + strings.Repeat("y", file.MaxLine) + `"}}`),
		[]byte("   "),
		{},
		mustJSON(t, sample(1)),
		[]byte(`{"id":"x","tenant_id":"t1","timestamp":"yesterday"}`),
		mustJSON(t, sample(2)),
	} {
		b.Write(part)
		b.WriteByte('\n')
	}
	b.Write(mustJSON(t, sample(3))) // a last line without its newline
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o640))
	l := open(t, path, "100MB", 2)
	res, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, ids([]ports.AuditEntry{sample(3), sample(2), sample(1), sample(0)}), ids(res.Entries))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestQueryWhileWriting(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "audit.jsonl"), "8KB", 1000)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				assert.NoError(t, l.Log(ctx, sample(w*1000+i)))
			}
		})
	}
	var last int64
	for range 50 {
		res, err := l.Query(ctx, ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 5})
		require.NoError(t, err)
		assert.GreaterOrEqual(t, res.Total, last, "a query sees at least what the one before saw")
		last = res.Total
	}
	wg.Wait()
	res, err := l.Query(ctx, ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, int64(800), res.Total)
}

func TestLogWritesNothingItRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, "1MB", 2)
	noID := sample(1)
	noID.ID = ""
	noTenant := sample(2)
	noTenant.TenantID = ""
	unencodable := sample(3)
	unencodable.Metadata = map[string]any{"nan": math.NaN()}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	require.ErrorIs(t, l.Log(context.Background(), sample(0), noID), core.ErrValidation)
	require.ErrorIs(t, l.Log(context.Background(), sample(0), noTenant), core.ErrValidation)
	require.Error(t, l.Log(context.Background(), sample(0), unencodable))
	require.ErrorIs(t, l.Log(canceled, sample(0)), context.Canceled)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, st.Size(), "a refused batch writes nothing")
}

func TestTimestampsAreWrittenInUTC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, "1MB", 2)
	e := sample(0)
	e.Timestamp = time.Date(2025, 6, 1, 14, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	require.NoError(t, l.Log(context.Background(), e))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"timestamp":"2025-06-01T12:00:00.123456789Z"`)
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := filepath.Join(t.TempDir(), "data", "audit")
	path := filepath.Join(dir, "audit.jsonl")
	l := open(t, path, "1KB", 2)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), st.Mode().Perm(), "the directory")
	st, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "the file")

	require.NoError(t, l.Log(context.Background(), samples(0, 10)...))
	require.NoError(t, l.Log(context.Background(), sample(10)))
	require.FileExists(t, path+".1")
	st, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "the file started by a rotation")
}

func TestConfig(t *testing.T) {
	def := file.DefaultConfig()
	assert.Equal(t, file.Config{Path: "", MaxSize: "100MB", MaxBackups: 10}, def)
	require.NoError(t, def.Validate(), "the defaults are valid (the root fills the path)")

	cases := []struct {
		name string
		edit func(c *file.Config)
		key  string
	}{
		{"BlankPath", func(c *file.Config) { c.Path = "  " }, "path"},
		{"NoMaxSize", func(c *file.Config) { c.MaxSize = "" }, "max_size"},
		{"BadMaxSize", func(c *file.Config) { c.MaxSize = "ten megs" }, "max_size"},
		{"ZeroMaxSize", func(c *file.Config) { c.MaxSize = "0MB" }, "max_size"},
		{"NegativeMaxSize", func(c *file.Config) { c.MaxSize = "-1MB" }, "max_size"},
		{"NoBackups", func(c *file.Config) { c.MaxBackups = 0 }, "max_backups"},
		{"TooManyBackups", func(c *file.Config) { c.MaxBackups = 1001 }, "max_backups"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := file.DefaultConfig()
			cfg.Path = "/tmp/x/audit.jsonl"
			c.edit(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, core.ErrValidation)
			var verr *core.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Contains(t, verr.FieldMap(), c.key)
			_, err = file.New(cfg)
			require.ErrorIs(t, err, core.ErrValidation, "New validates")
		})
	}

	_, err := file.New(def)
	var verr *core.ValidationError
	require.ErrorAs(t, err, &verr, "New needs a path")
	assert.Contains(t, verr.FieldMap(), "path")

	cfg := def
	cfg.Path = filepath.Join(t.TempDir(), "audit.jsonl")
	cfg.MaxSize = " 2 kb "
	l, err := file.New(cfg)
	require.NoError(t, err, "sizes are read as core/config.ParseSize reads them")
	require.NoError(t, l.Close())
}
