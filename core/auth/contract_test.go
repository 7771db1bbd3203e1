package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest/authtest"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// identityWith returns an identity provider knowing users.
func identityWith(users ...*ports.User) *fakes.Identity {
	id := fakes.NewIdentity(nil)
	for _, u := range users {
		id.Add(*u, "")
	}
	return id
}

// Every built-in strategy keeps the strategy contract.
func TestStrategiesContract(t *testing.T) {
	t1 := ports.WithClientIP(ports.WithTenantID(context.Background(), "t1"), "192.0.2.7")
	strategies := map[string]authtest.NewFixture{
		"bearer": func(t *testing.T) authtest.Fixture {
			s, _ := bearerNewStrategy(t)
			return authtest.Fixture{Strategy: s, Ctx: t1, UserID: "ann",
				Valid:   bearerHeader("Bearer " + bearerGoodToken),
				Invalid: []http.Header{bearerHeader("Bearer forged.token.value"), bearerHeader("Bearer " + strings.ToUpper(bearerGoodToken))}}
		},
		"api_key": func(t *testing.T) authtest.Fixture {
			env := apiKeyNewEnv(t)
			id, _, _ := strings.Cut(strings.TrimPrefix(env.key, auth.APIKeyPrefix), "_")
			return authtest.Fixture{Strategy: env.strategy, Ctx: t1, UserID: "ann",
				Valid: apiKeyKeyHeader(env.key),
				Invalid: []http.Header{
					apiKeyKeyHeader(auth.APIKeyPrefix + id + "_" + auth.RandomToken(32)),
					apiKeyKeyHeader(auth.APIKeyPrefix + strings.Repeat("z", 16) + "_" + auth.RandomToken(32)),
					apiKeyKeyHeader("not-a-key"),
				}}
		},
		"basic": func(t *testing.T) authtest.Fixture {
			s, _ := basicNewStrategy(1000)
			return authtest.Fixture{Strategy: s, Ctx: t1, UserID: "ann",
				Valid: basicHeader("Basic " + basicCreds(basicAnnEmail+":"+basicAnnPassword)),
				Invalid: []http.Header{
					basicHeader("Basic " + basicCreds(basicAnnEmail+":wrong password")),
					basicHeader("Basic " + basicCreds("bob@example.com:"+basicAnnPassword)),
					basicHeader("Basic not base64!"),
				}}
		},
		"session_cookie": func(t *testing.T) authtest.Fixture {
			env := sessionCookieNewEnv(t)
			return authtest.Fixture{Strategy: env.strategy, Ctx: t1, UserID: "ann",
				Valid: sessionCookieCookies(sessionCookieCookieName + "=" + env.started.Secret),
				Invalid: []http.Header{
					sessionCookieCookies(sessionCookieCookieName + "=" + auth.RandomToken(32)),
					sessionCookieCookies(sessionCookieCookieName + "=x"),
				}}
		},
		"header": func(t *testing.T) authtest.Fixture {
			h := federated.New(config.Default().Auth.Headers)
			return authtest.Fixture{Strategy: auth.NewHeader(h, "X-User-ID"), Ctx: t1, UserID: "ann",
				Valid: headerHeaders("X-User-ID", "ann", "X-User-Roles", "Sales"),
				Invalid: []http.Header{
					headerHeaders("X-User-ID", strings.Repeat("a", 10_000)),
					headerHeaders("X-User-ID", "ann", "X-User-Attributes", "{not json"),
				}}
		},
	}
	for name, newFixture := range strategies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			authtest.Run(t, newFixture)
		})
	}
}
