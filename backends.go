package frameworkm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"

	"go.opentelemetry.io/otel/trace"
)

// Deps are what backend factories get to build their adapter.
type Deps struct {
	// Name is the backend's registered name (the value chosen in TOML).
	Name string
	// Config is the whole configuration (core keys); the backend's own
	// section arrives decoded as the factory's settings argument.
	Config   config.Config
	Logger   *slog.Logger
	Registry *doctype.Registry
	// Repository is the tenant-scoped document store (emitting change events).
	Repository ports.Repository
	// Store is the same store without change events: for records nobody
	// needs to hear of (the audit trail's own rows).
	Store ports.Repository
	// Purger deletes expired rows across tenants (maintenance jobs); nil when
	// the store cannot.
	Purger ports.Purger
	// Changes delivers committed document changes.
	Changes ports.ChangeFeed
	// Shared opens clients that several adapters use (one Redis pool) once
	// per App; they are closed at Shutdown.
	Shared *Shared
	// Tokens is the access-token service (for identity providers; nil in
	// modes without local users).
	Tokens ports.TokenService
	// AuthService holds the identity services auth strategies use (nil in
	// factories built before it: identity providers and token services).
	AuthService *auth.Service
	// Hydrator builds principals from gateway headers (federated identity).
	Hydrator ports.HeaderHydrator
	// Tracer makes the spans of [tracing] (nil when tracing is off): give
	// it to the outbound clients a backend opens.
	Tracer trace.TracerProvider
}

// Backend is one adapter of the port P: its settings and its constructor.
// Make one with NewBackend (an adapter with settings of its own) or Factory.
type Backend[P any] struct {
	settings func() any
	build    func(d Deps, settings any) (P, error)
}

// NewBackend pairs a constructor with its settings type S. The backend's own
// TOML table ([rate_limit.<name>], [permissions.<name>] …) is decoded onto
// defaults — unknown keys and values of the wrong type are configuration
// problems naming the key — and then S's Validate() error, when S has one,
// runs. Both happen whether or not the backend is selected, so a mistake in a
// section waiting to be switched on is found as early. What the backend needs
// only once selected (an endpoint, a policy file) goes in a Required() error
// method, run for the selected backend only. A *core.ValidationError from
// either names keys of the section; any other error is reported at the
// section's key.
func NewBackend[P, S any](defaults S, build func(d Deps, settings S) (P, error)) Backend[P] {
	return Backend[P]{
		settings: func() any { s := defaults; return &s },
		build:    func(d Deps, s any) (P, error) { return build(d, *s.(*S)) },
	}
}

// Factory is a backend without settings of its own: a section for it in the
// TOML is refused as unknown keys.
func Factory[P any](build func(d Deps) (P, error)) Backend[P] {
	return Backend[P]{build: func(d Deps, _ any) (P, error) { return build(d) }}
}

// registry holds the backends of one port by name.
type registry[P any] struct {
	// port names the port in messages ("rate limiter").
	port string
	// section is the TOML table holding the backends' own tables
	// ("rate_limit" → [rate_limit.redis]).
	section  string
	backends map[string]Backend[P]
}

func newRegistry[P any](port, section string, builtin map[string]Backend[P]) *registry[P] {
	return &registry[P]{port: port, section: section, backends: maps.Clone(builtin)}
}

func (r *registry[P]) register(name string, b Backend[P]) { r.backends[name] = b }

// names lists the registered backends, sorted.
func (r *registry[P]) names() []string { return slices.Sorted(maps.Keys(r.backends)) }

func (r *registry[P]) sectionPrefix() string { return r.section }

func (r *registry[P]) has(name string) bool { _, ok := r.backends[name]; return ok }

// defaults returns the default settings of every backend that has some.
func (r *registry[P]) defaults() map[string]any {
	out := map[string]any{}
	for name, b := range r.backends {
		if b.settings != nil {
			out[name] = reflect.ValueOf(b.settings()).Elem().Interface()
		}
	}
	return out
}

// unknown is the problem of a selected name no backend has.
func (r *registry[P]) unknown(key, name string) config.Problem {
	noun, kinds := "backend", r.port+" backends"
	if r.port == "auth strategy" {
		noun, kinds = "strategy", "auth strategies"
	}
	avail := "none are registered"
	if n := r.names(); len(n) > 0 {
		avail = "registered " + kinds + ": " + strings.Join(n, ", ")
	}
	return config.Problem{Key: key, Reason: fmt.Sprintf("unknown %s %q (%s)", noun, name, avail)}
}

// settingsOf decodes the section of backend name onto its defaults and
// validates the values; validate (the backend is selected) adds what it
// requires. Settings are nil for a backend without any.
func (r *registry[P]) settingsOf(cfg config.Config, name string, validate bool) (any, []config.Problem) {
	b, ok := r.backends[name]
	if !ok {
		return nil, nil
	}
	key := r.section + "." + name
	raw, present := cfg.Sections[key]
	if b.settings == nil {
		if present {
			return nil, []config.Problem{{Key: key, Reason: fmt.Sprintf("the %s backend %q has no settings", r.port, name)}}
		}
		return nil, nil
	}
	s := b.settings()
	if present {
		if probs := decodeSection(key, raw, s); len(probs) > 0 {
			return nil, probs
		}
	}
	probs := validateSettings(key, s, "Validate")
	if validate {
		probs = append(probs, validateSettings(key, s, "Required")...)
	}
	return s, probs
}

// check reports the problems of the section of backend name: its keys and
// types always, its values when the backend is selected.
func (r *registry[P]) check(cfg config.Config, name string, selected bool) []config.Problem {
	_, probs := r.settingsOf(cfg, name, selected)
	return probs
}

// build makes backend name with its settings; selectKey is the key that chose
// it, for messages.
func (r *registry[P]) build(d Deps, selectKey, name string) (P, error) {
	var zero P
	b, ok := r.backends[name]
	if !ok {
		return zero, &config.Error{Problems: []config.Problem{r.unknown(selectKey, name)}}
	}
	s, probs := r.settingsOf(d.Config, name, true)
	if len(probs) > 0 {
		return zero, &config.Error{Problems: probs}
	}
	d.Name = name
	p, err := b.build(d, s)
	if err != nil {
		return zero, fmt.Errorf("%s = %q: %w", selectKey, name, err)
	}
	return p, nil
}

// sectionRegistry is what Check needs of every registry, whatever its port.
type sectionRegistry interface {
	sectionPrefix() string
	has(name string) bool
	check(cfg config.Config, name string, selected bool) []config.Problem
	defaults() map[string]any
}

// decodeSection decodes raw (a map read from TOML, or a settings struct set
// in code) onto dst, reporting unknown keys and type errors under key.
func decodeSection(key string, raw, dst any) []config.Problem {
	var text strings.Builder
	if err := toml.NewEncoder(&text).Encode(raw); err != nil {
		return []config.Problem{{Key: key, Reason: fmt.Sprintf("cannot be read: %v", err)}}
	}
	md, err := toml.Decode(text.String(), dst)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.LastKey != "" {
			return []config.Problem{{Key: key + "." + pe.LastKey, Reason: pe.Message}}
		}
		if k, reason, ok := typeError(err); ok {
			return []config.Problem{{Key: key + "." + k, Reason: reason}}
		}
		return []config.Problem{{Key: key, Reason: err.Error()}}
	}
	var probs []config.Problem
	for _, k := range md.Undecoded() {
		if len(probs) > 0 && strings.HasPrefix(k.String(), strings.TrimPrefix(probs[len(probs)-1].Key, key+".")+".") {
			continue // inside an unknown table already reported
		}
		probs = append(probs, config.Problem{Key: key + "." + k.String(), Reason: "unknown key"})
	}
	return probs
}

// lastKey finds the key of a TOML decoding error: `toml: line 1 (last key
// "timeout_ms"): incompatible types: …`.
var lastKey = regexp.MustCompile(`\(last key "([^"]+)"\): (.*)$`)

// typeError splits a decoding error of a re-encoded section into the key and
// the reason (its line number points into the re-encoding, not the file).
func typeError(err error) (key, reason string, ok bool) {
	m := lastKey.FindStringSubmatch(err.Error())
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// validateSettings runs s's method (Validate or Required), if it has one,
// and names its problems under key.
func validateSettings(key string, s any, method string) []config.Problem {
	m := reflect.ValueOf(s).MethodByName(method) // s is a pointer: both method sets
	if !m.IsValid() {
		return nil
	}
	check, ok := m.Interface().(func() error)
	if !ok {
		return nil
	}
	err := check()
	if err == nil {
		return nil
	}
	var ve *core.ValidationError
	if errors.As(err, &ve) && len(ve.Fields) > 0 {
		probs := make([]config.Problem, 0, len(ve.Fields))
		for _, f := range ve.Fields {
			probs = append(probs, config.Problem{Key: key + "." + f.Field, Reason: f.Reason})
		}
		return probs
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		probs := make([]config.Problem, 0, len(ce.Problems))
		for _, p := range ce.Problems {
			probs = append(probs, config.Problem{Key: key + "." + p.Key, Reason: p.Reason})
		}
		return probs
	}
	return []config.Problem{{Key: key, Reason: err.Error()}}
}

// Shared holds clients that several adapters use, such as one Redis pool for
// sessions and rate limits: opened on first use, closed at Shutdown.
type Shared struct {
	mu      sync.Mutex
	clients map[string]any
	closers []io.Closer
}

// client returns the client kept under key, or nil.
func (s *Shared) client(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[key]
}

// SharedClient returns the client kept under key, opening it with open the
// first time. Clients that are io.Closers are closed when the App shuts down.
func SharedClient[T any](s *Shared, key string, open func() (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[key]; ok {
		t, ok := c.(T)
		if !ok {
			var zero T
			return zero, fmt.Errorf("shared client %q is a %T, not a %T", key, c, zero)
		}
		return t, nil
	}
	c, err := open()
	if err != nil {
		var zero T
		return zero, err
	}
	if s.clients == nil {
		s.clients = map[string]any{}
	}
	s.clients[key] = c
	if cl, ok := any(c).(io.Closer); ok {
		s.closers = append(s.closers, cl)
	}
	return c, nil
}

// Close closes every client, newest first.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for i := len(s.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, s.closers[i].Close())
	}
	s.closers, s.clients = nil, nil
	return err
}
