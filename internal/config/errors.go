package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the key path the problem is about, in yaml names with dots
	// for nesting and [i] for list indices, e.g. "upstreams[1].url". It is
	// empty when the problem concerns the document as a whole.
	Path string
	// Message says what is wrong and, where it helps, how to fix it. It
	// never contains the value of secret_key or redis.password.
	Message string
}

// String formats the problem as "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError is what Validate returns: every problem found, in the
// order of the fields. Its Error is one problem per line.
type ValidationError struct {
	Problems []Problem
}

// Error implements error: one "path: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// SourcedProblem is a Problem together with where it came from: a line of
// the YAML file, or a GATEWAY_* environment variable.
type SourcedProblem struct {
	Problem
	// File is the file name as given to Load or Decode; empty when the
	// problem comes from the environment or no file was read.
	File string
	// Line is the 1-based line in File for decoding problems; 0 when the
	// problem is not tied to a line (validation problems).
	Line int
	// EnvVar is the GATEWAY_* variable the problem comes from, if any.
	EnvVar string
}

// String formats the problem as one line:
//
//	config.yaml: upstreams[0].urll: unknown key (line 12)
//	config.yaml: upstreams[1].url: scheme must be http or https, got "ftp"
//	GATEWAY_REDIS_DB (redis.db): must be an integer, got "x"
func (p SourcedProblem) String() string {
	var b strings.Builder
	if p.EnvVar != "" {
		b.WriteString(p.EnvVar)
		if p.Path != "" {
			b.WriteString(" (" + p.Path + ")")
		}
		b.WriteString(": " + p.Message)
	} else {
		if p.File != "" {
			b.WriteString(p.File + ": ")
		}
		b.WriteString(p.Problem.String())
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// Error is what Decode, ApplyEnv and Load return when anything is wrong:
// every problem found, each naming its source, one per line. Use
// errors.As to get at the problems.
type Error struct {
	Problems []SourcedProblem
}

// Error implements error: one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
