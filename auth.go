package frameworkm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// builtinStrategies are the strategies [auth] strategies may list.
var builtinStrategies = map[string]Backend[ports.Authenticator]{
	"session_cookie": Factory(func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.Sessions == nil {
			return nil, errors.New("sessions are not available in this auth mode")
		}
		return auth.NewSessionCookie(d.AuthService, d.Config.Auth.Session.CookieName), nil
	}),
	"bearer": Factory(func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.Tokens == nil {
			return nil, errors.New("bearer tokens are not available in this auth mode")
		}
		return auth.NewBearer(d.AuthService), nil
	}),
	"api_key": Factory(func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.APIKeys == nil {
			return nil, errors.New("API keys are not available in this auth mode")
		}
		return auth.NewAPIKey(d.AuthService), nil
	}),
	"basic": Factory(func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || !d.AuthService.Users.Mode().HasPasswords() {
			return nil, errors.New("basic auth needs auth mode \"local\"")
		}
		return auth.NewBasic(d.AuthService), nil
	}),
	"header": Factory(func(d Deps) (ports.Authenticator, error) {
		var seen *auth.SeenUsers
		if d.AuthService != nil {
			seen = d.AuthService.Seen
		}
		return auth.NewHeader(d.Hydrator, d.Config.Auth.Headers.UserID).WithSeen(seen), nil
	}),
}

// WithAuthStrategy adds an auth strategy under name, to be listed in [auth]
// strategies and configured in [auth.strategy.<name>].
func WithAuthStrategy(name string, b Backend[ports.Authenticator]) Option {
	return func(o *options) { o.strategies.register(name, b) }
}

// buildAuthChain builds [auth] strategies in order, after the ready ones
// given with WithAuthenticator.
func (a *App) buildAuthChain(o *options, d Deps) error {
	strategies := slices.Clone(o.authenticators)
	for i, name := range a.Config.Auth.Strategies {
		s, err := o.strategies.build(d, fmt.Sprintf("auth.strategies[%d]", i), name)
		if err != nil {
			return err
		}
		a.adopt(s)
		strategies = append(strategies, s)
	}
	a.Auth = auth.NewChain(strategies...)
	return nil
}
