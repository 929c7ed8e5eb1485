package config

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// MaxFileSize bounds the config file Load reads.
const MaxFileSize = 1 << 20

// Load reads the YAML file at path, decodes it strictly, applies the
// GATEWAY_* variables of environ on top (see ApplyEnv), applies defaults
// and validates. An empty path reads no file: the configuration then
// comes from the environment and defaults alone.
//
// If the file cannot be read, the error is the *os.PathError (test it with
// errors.Is(err, fs.ErrNotExist)). Otherwise every problem of every step
// is returned at once as an *Error, one per line:
//
//	config.yaml: upstreams[0].urll: unknown key (line 12)
//	GATEWAY_REDIS_DB (redis.db): must be an integer, got "x"
//	config.yaml: upstreams[1].url: scheme must be http or https, got "ftp"
//
// Validation problems name the variable instead of the file when the
// setting came from the environment, and are left out for settings that
// already failed to decode or parse.
func Load(path string, environ []string) (*Config, error) {
	return LoadOptional(path, environ)
}

// LoadOptional is Load for a program that does not use some settings: a
// required value missing or invalid at one of the optional key paths is
// not an error (e.g. management commands sign nothing, so they pass
// "secret_key"). Decode problems at those paths are still reported.
func LoadOptional(path string, environ []string, optional ...string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = readFile(path); err != nil {
			return nil, err
		}
	}
	cfg, probs, failed := decode(path, data)
	fromEnv, envProbs, envFailed := cfg.applyEnv(environ)
	probs = append(probs, envProbs...)
	for p := range envFailed {
		failed[p] = true
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		for _, p := range err.(*ValidationError).Problems {
			if coveredBy(p.Path, failed) || slices.Contains(optional, p.Path) {
				continue
			}
			sp := SourcedProblem{Problem: p}
			if name, ok := fromEnv[p.Path]; ok {
				sp.EnvVar = name
			} else {
				sp.File = path
			}
			probs = append(probs, sp)
		}
	}
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return cfg, nil
}

// coveredBy reports whether path is, or is under, a path that already has
// a problem, so validation does not repeat it in other words.
func coveredBy(path string, failed map[string]bool) bool {
	for f := range failed {
		if f == "" || path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is this the right file?", path, MaxFileSize)
	}
	return data, nil
}
