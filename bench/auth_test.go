package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const (
	benchEmail = "bench@example.com"
	benchPass  = "a long passphrase for timing"
)

// authApp builds an app on driver with one user and extraKeys API key rows of
// other users, so key lookups run against a table of that size.
func authApp(b *testing.B, driver fmtest.Driver, extraKeys int, production bool) (*frameworkm.App, context.Context) {
	b.Helper()
	cfg := config.Default()
	cfg.App.DataDir = b.TempDir()
	cfg.App.LogLevel = "error"
	cfg.Auth.JWT.Secret = "benchmark-secret-benchmark-secret-0123456789"
	if !production {
		cfg.Auth.Password.Argon2MemoryKiB, cfg.Auth.Password.Argon2Iterations = 1024, 1
	}
	if driver == fmtest.Postgres {
		cfg.Database.Driver = "postgres"
		cfg.Database.DSN = fmtest.PostgresSchema(b)
	}
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(frameworkm.NewLogger(config.App{LogLevel: "error"}, os.Stderr)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Shutdown(context.Background()) })
	// Started, as a server is: on PostgreSQL the caches answer once the hub
	// (LISTEN/NOTIFY) is subscribed.
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !app.Changes.Synced(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the hub did not subscribe")
		}
	}
	ctx := ports.WithClientIP(app.SystemContext(context.Background(), ""), "127.0.0.1")
	if _, err := app.Users.Create(ctx, ports.NewUser{Email: benchEmail, Password: benchPass}); err != nil {
		b.Fatal(err)
	}
	if extraKeys > 0 {
		dt, _ := app.Registry.Get(doctypes.APIKeyDocType)
		now := time.Now().UTC().Truncate(time.Microsecond)
		batch := make([]*doctypes.APIKey, 0, 1000)
		for i := range extraKeys {
			id := fmt.Sprintf("%016x", i)
			batch = append(batch, &doctypes.APIKey{
				Base:   doctype.Base{TenantID: "default", Name: id, Owner: "other", CreatedAt: now, ModifiedAt: now, ModifiedBy: "seed", Version: 1},
				UserID: fmt.Sprintf("user-%d", i%1000), Label: "seed", Scopes: doctype.StringList{}, KeyHash: auth.HashSecret(id),
			})
			if len(batch) == cap(batch) || i == extraKeys-1 {
				if err := app.DB.Table(dt.Table).CreateInBatches(batch, len(batch)).Error; err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	return app, ctx
}

// BenchmarkAuthChain is the auth chain's cost per request: header parsing,
// verification and loading the user, for each credential kind.
func BenchmarkAuthChain(b *testing.B) {
	for _, drv := range drivers() {
		for _, keys := range []int{10, 100_000} {
			b.Run(fmt.Sprintf("%s/api_key/%d-keys", drv, keys), func(b *testing.B) {
				app, ctx := authApp(b, drv, keys, false)
				u, err := app.Users.Provider().(ports.LocalIdentity).FindByEmail(ctx, benchEmail)
				if err != nil {
					b.Fatal(err)
				}
				key, _, err := app.AuthService.APIKeys.Create(ctx, u.ID, auth.NewKey{Name: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				runChain(b, app, ctx, http.Header{"X-Api-Key": {key}}, "api_key")
			})
		}
		b.Run(string(drv)+"/bearer", func(b *testing.B) {
			app, ctx := authApp(b, drv, 0, false)
			res, err := app.AuthService.Login(ctx, auth.LoginRequest{Email: benchEmail, Password: benchPass, IP: "127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			runChain(b, app, ctx, http.Header{"Authorization": {"Bearer " + res.Token.AccessToken}}, "bearer")
		})
		b.Run(string(drv)+"/session_cookie", func(b *testing.B) {
			app, ctx := authApp(b, drv, 0, false)
			res, err := app.AuthService.Login(ctx, auth.LoginRequest{Email: benchEmail, Password: benchPass, IP: "127.0.0.1", Session: true})
			if err != nil {
				b.Fatal(err)
			}
			runChain(b, app, ctx, http.Header{"Cookie": {"session_id=" + res.Session.Secret}}, "session_cookie")
		})
	}
}

func runChain(b *testing.B, app *frameworkm.App, ctx context.Context, h http.Header, method string) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		u, err := app.Auth.Authenticate(ctx, h)
		if err != nil || u == nil || u.Method != method {
			b.Fatalf("authenticate: %v %v", u, err)
		}
	}
}

// BenchmarkPasswordLogin is a full password login with the production argon2id
// parameters (19 MiB, 2 iterations): verification plus token issue.
func BenchmarkPasswordLogin(b *testing.B) {
	app, ctx := authApp(b, fmtest.SQLite, 0, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A fresh client address each time, so the per-address throttle is not what is measured.
		c := ports.WithClientIP(ctx, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		if _, err := app.AuthService.Login(c, auth.LoginRequest{Email: benchEmail, Password: benchPass, IP: ports.ClientIPFrom(c)}); err != nil {
			b.Fatal(err)
		}
	}
}
