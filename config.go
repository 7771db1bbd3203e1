package frameworkm

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/framework-m/framework-m/core/config"
)

// LoadConfig reads framework_config.toml. The path is path when not empty, else
// $FRAMEWORK_M_CONFIG, else ./framework_config.toml; only that last, implicit
// file may be missing, and then the documented defaults apply. Keys the file leaves out keep their
// defaults. Unknown keys, TOML syntax errors (with their line), values of the
// wrong type, unset ${VARS} and invalid values are errors naming the key.
func LoadConfig(path string) (config.Config, error) {
	explicit := path != "" || os.Getenv(config.EnvPath) != ""
	path = config.ResolvePath(path)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if explicit {
			// A file named on purpose must exist: a typo must not start
			// production on the defaults.
			return config.Config{}, fmt.Errorf("config %s: no such file", path)
		}
		cfg := config.Default()
		return cfg, cfg.Validate()
	}
	if err != nil {
		return config.Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

// errSyntax marks TOML syntax errors.
var errSyntax = errors.New("TOML syntax error")

// ParseConfig decodes TOML data (read from source, for messages) onto the
// defaults, interpolates ${VAR}s and validates the result. Tables of the
// ports' backends ([permissions.citadel], [rate_limit.<name>] …) are kept in
// Config.Sections for their adapters to decode; every other unknown key is a
// problem. Unknown keys, unset variables and invalid values are reported
// together.
func ParseConfig(source string, data []byte) (config.Config, error) {
	cfg := config.Default()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return config.Config{}, fmt.Errorf("config %s: line %d, key %s: %s: %w", source, pe.Position.Line, pe.LastKey, pe.Message, errSyntax)
			}
			return config.Config{}, fmt.Errorf("config %s: line %d: %s: %w", source, pe.Position.Line, pe.Message, errSyntax)
		}
		return config.Config{}, fmt.Errorf("config %s: %w", source, err)
	}
	cerr := &config.Error{Source: source}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		var raw map[string]any
		if _, err := toml.Decode(string(data), &raw); err != nil {
			return config.Config{}, fmt.Errorf("config %s: %w", source, err)
		}
		cerr.Problems = append(cerr.Problems, collectSections(&cfg, md, undecoded, raw)...)
	}
	for _, step := range []func() error{func() error { return cfg.Interpolate(nil) }, cfg.Validate} {
		if err := step(); err != nil {
			var e *config.Error
			if !errors.As(err, &e) {
				return config.Config{}, err
			}
			cerr.Problems = append(cerr.Problems, e.Problems...)
		}
	}
	if len(cerr.Problems) > 0 {
		return config.Config{}, cerr
	}
	return cfg, nil
}

// portSections are the tables whose sub-tables belong to the ports' backends.
var portSections = func() []sectionRegistry { return newOptions(nil).sectionRegistries() }()

// collectSections moves the undecoded tables of backends into cfg.Sections
// and returns the other undecoded keys as unknown.
func collectSections(cfg *config.Config, md toml.MetaData, undecoded []toml.Key, raw map[string]any) []config.Problem {
	var probs []config.Problem
	for _, k := range undecoded {
		key := k.String()
		if len(probs) > 0 && strings.HasPrefix(key, probs[len(probs)-1].Key+".") {
			continue // inside an unknown table already reported
		}
		section := sectionOf(key)
		if section == "" || (section == key && md.Type(k...) != "Hash") {
			probs = append(probs, config.Problem{Key: key, Reason: "unknown key"})
			continue
		}
		if _, done := cfg.Sections[section]; done {
			continue
		}
		cfg.SetSection(section, lookup(raw, strings.Split(section, ".")))
	}
	return probs
}

// sectionOf returns the backend table holding key ("rate_limit.redis" for
// "rate_limit.redis.key_prefix"), or "" when key lies in no port's table.
func sectionOf(key string) string {
	best := ""
	for _, r := range portSections {
		p := r.sectionPrefix() + "."
		rest, ok := strings.CutPrefix(key, p)
		if !ok || rest == "" || len(p) <= len(best) {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		best = p + name
	}
	return best
}

// lookup walks a decoded TOML document along path.
func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// EncodeConfig writes cfg as TOML, its backends' sections included (for
// `config show`-style tooling and tests).
func EncodeConfig(cfg config.Config) (string, error) {
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return "", err
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.Sections)) {
		var sec strings.Builder
		if err := toml.NewEncoder(&sec).Encode(cfg.Sections[key]); err != nil {
			return "", fmt.Errorf("section %s: %w", key, err)
		}
		fmt.Fprintf(&b, "\n[%s]\n%s", key, sec.String())
	}
	return b.String(), nil
}

// DefaultConfig returns the documented defaults: config.Default() with the
// default settings of every built-in backend that has some, in
// Config.Sections (what framework_config.toml documents).
func DefaultConfig() config.Config {
	cfg := config.Default()
	o := newOptions(nil)
	for _, r := range o.sectionRegistries() {
		for name, s := range r.defaults() {
			cfg.SetSection(r.sectionPrefix()+"."+name, s)
		}
	}
	return cfg
}
