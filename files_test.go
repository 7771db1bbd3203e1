package frameworkm_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	storagememory "github.com/framework-m/framework-m/adapters/storage/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// vaultSettings is the [files.vault] table of a third party's storage.
type vaultSettings struct {
	Label string `toml:"label"`
}

func (s vaultSettings) Validate() error {
	if s.Label == "" {
		return core.Invalid("label", "is required")
	}
	return nil
}

// vault is a memory storage counting its Puts.
type vault struct {
	*storagememory.Storage
	label string
	puts  int
}

func (v *vault) Put(ctx context.Context, key string, r io.Reader, size int64, opts ports.PutOptions) (ports.ObjectInfo, error) {
	v.puts++
	return v.Storage.Put(ctx, key, r, size, opts)
}

// TestThirdPartyStorage: a storage registered with WithStorageBackend is
// chosen by [files] storage_backend, gets its [files.<name>] settings, and
// serves the file routes; a bad setting or an unknown name stops New naming
// the key.
func TestThirdPartyStorage(t *testing.T) {
	var built *vault
	backend := frameworkm.WithStorageBackend("vault", frameworkm.NewBackend(vaultSettings{}, func(_ frameworkm.Deps, s vaultSettings) (ports.Storage, error) {
		built = &vault{Storage: storagememory.New(), label: s.Label}
		return built, nil
	}))
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Files.StorageBackend = "vault"
	cfg.SetSection("files.vault", map[string]any{"label": "primary"})
	app := fmtest.NewWithConfig(t, cfg, backend)
	require.NotNil(t, built)
	assert.Equal(t, "primary", built.label)
	c := app.As(fmtest.User("ann"))
	f := c.Upload("/api/v1/file/upload", "a.txt", strings.NewReader("kept in the vault"), nil).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, 1, built.puts)
	assert.Equal(t, "kept in the vault", string(c.Get("/api/v1/file/"+f["id"].(string)).RequireStatus(t, http.StatusOK).Body))

	bad := fmtest.Config(t, fmtest.SQLite)
	bad.Files.StorageBackend = "vault"
	_, err := frameworkm.New(bad, backend)
	assert.ErrorContains(t, err, "files.vault.label")
	bad.Files.StorageBackend = "dropbox"
	_, err = frameworkm.New(bad, backend)
	assert.ErrorContains(t, err, `files.storage_backend: unknown backend "dropbox"`)
	assert.ErrorContains(t, err, "local, memory, s3, vault")
}

// TestFilesConfig: [files] values are checked at startup, each problem
// named by its key.
func TestFilesConfig(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Files.MaxUploadSize = "10 MiB"
	cfg.Files.PartSize = "1MB"
	cfg.Files.UploadSessionTTL = "forever"
	cfg.Files.AllowedExtensions = []string{"pdf", ".exe"}
	cfg.Files.StorageBackend = "s3"
	_, err := frameworkm.New(cfg)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	assert.ElementsMatch(t, []string{"files.max_upload_size", "files.part_size", "files.upload_session_ttl", "files.allowed_extensions[1]", "files.s3_bucket"}, keys, "%v", err)

	for in, want := range map[string]int64{"10MB": 10 << 20, "512 KB": 512 << 10, "1gb": 1 << 30, "300B": 300, "42": 42} {
		n, err := config.ParseSize(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, n, in)
	}
	for _, in := range []string{"", "-1MB", "1.5MB", "10 MiB", "9999999999GB"} {
		_, err := config.ParseSize(in)
		assert.Error(t, err, in)
	}
}
