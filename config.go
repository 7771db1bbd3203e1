package frameworkm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
// defaults, interpolates ${VAR}s and validates the result.
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
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		cerr := &config.Error{Source: source}
		for _, k := range undecoded {
			if len(cerr.Problems) > 0 && strings.HasPrefix(k.String(), cerr.Problems[len(cerr.Problems)-1].Key+".") {
				continue // inside an unknown table already reported
			}
			cerr.Problems = append(cerr.Problems, config.Problem{Key: k.String(), Reason: "unknown key"})
		}
		return config.Config{}, cerr
	}
	if err := cfg.Interpolate(nil); err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			cerr.Source = source
		}
		return config.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			cerr.Source = source
		}
		return config.Config{}, err
	}
	return cfg, nil
}

// EncodeConfig writes cfg as TOML (for `config show`-style tooling and tests).
func EncodeConfig(cfg config.Config) (string, error) {
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return "", err
	}
	return b.String(), nil
}
