package frameworkm

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/framework-m/framework-m/adapters/sniffer/mimetype"
	"github.com/framework-m/framework-m/adapters/storage/local"
	storagememory "github.com/framework-m/framework-m/adapters/storage/memory"
	"github.com/framework-m/framework-m/adapters/storage/s3"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/ports"
)

// builtinStorages are the storages [files] storage_backend may name. Their
// settings are [files]' own flat keys (storage_path, s3_bucket …), as in the
// Python framework; a registered storage reads [files.<name>].
var builtinStorages = map[string]Backend[ports.Storage]{
	"local": Factory(func(d Deps) (ports.Storage, error) {
		return local.New(localConfig(d.Config))
	}),
	"s3": Factory(func(d Deps) (ports.Storage, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return s3.New(ctx, s3Config(d.Config.Files), s3.WithTracerProvider(d.Tracer))
	}),
	"memory": Factory(func(Deps) (ports.Storage, error) { return storagememory.New(), nil }),
}

// localConfig is the local storage of [files] storage_path (default
// DATA_DIR/files).
func localConfig(cfg config.Config) local.Config {
	root := cfg.Files.StoragePath
	if root == "" {
		root = filepath.Join(cfg.App.DataDir, "files")
	}
	return local.Config{Root: root}
}

// s3Config is the S3 storage of [files]' s3_* keys.
func s3Config(f config.Files) s3.Config {
	return s3.Config{
		Bucket: f.S3Bucket, Region: f.S3Region, Endpoint: f.S3Endpoint,
		AccessKey: f.S3AccessKey, SecretKey: f.S3SecretKey, UsePathStyle: f.S3UsePathStyle,
		Prefix: f.S3Prefix,
	}
}

// checkStorage reports what the selected built-in storage lacks.
func checkStorage(cfg config.Config) []config.Problem {
	if cfg.Files.StorageBackend != "s3" {
		return nil
	}
	if err := s3Config(cfg.Files).Validate(); err != nil {
		return []config.Problem{{Key: "files.s3_bucket", Reason: err.Error()}}
	}
	return nil
}

// WithStorageBackend adds a file storage under name, to be chosen with
// [files] storage_backend and configured in [files.<name>].
func WithStorageBackend(name string, b Backend[ports.Storage]) Option {
	return func(o *options) { o.storages.register(name, b) }
}

// buildFiles builds [files] storage_backend and the file service over it;
// the service's sweep runs with the app.
func (a *App) buildFiles(o *options, d Deps) error {
	f := a.Config.Files
	store, err := o.storages.build(d, "files.storage_backend", f.StorageBackend)
	if err != nil {
		return err
	}
	if store == nil {
		return fmt.Errorf("files.storage_backend = %q built no storage", f.StorageBackend)
	}
	a.adopt(store)
	a.Files = files.New(a.Resources, a.Repository, a.Changes, store, mimetype.New(), files.Options{
		MaxUploadSize:      f.MaxUploadBytes(),
		AllowedExtensions:  f.AllowedExtensions,
		PartSize:           f.PartBytes(),
		SessionTTL:         f.SessionTTL(),
		PresignExpiry:      f.PresignTTL(),
		PresignedDownloads: f.S3PresignedDownloads,
		Purger:             d.Purger,
		Logger:             a.Logger,
		Meter:              a.Meter,
	})
	a.adopt(a.Files)
	return nil
}
