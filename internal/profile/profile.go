// Package profile is the gateway's custom user fields: the profile schema
// ops declare in config.yaml (profile_fields), the typed values a user
// holds, their text form (command line, environment, fixtures) and their
// stored form (each value as JSON in a field of the user's Redis hash).
//
// It plays the part of a Django project's custom user model or UserProfile:
// the Schema says which fields exist, their types and constraints; Values
// hold a user's values. A stored value is interpreted by the current
// declaration every time it is read (Schema.Effective), so changing the
// declarations never rewrites users: a removed field is ignored, a new one
// takes its default, and a stored value that no longer fits its
// declaration is left out (never replaced by the default), so a policy
// reading it finds it undefined and denies.
package profile

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is the type of a profile field.
type Type string

// The field types. In Go a value of each is, in order: string, int64,
// bool, []string, time.Time (UTC).
const (
	String     Type = "string"
	Integer    Type = "integer"
	Boolean    Type = "boolean"
	StringList Type = "string_list"
	Timestamp  Type = "timestamp"
)

// Types lists every field type, in the order the documentation gives them.
var Types = []Type{String, Integer, Boolean, StringList, Timestamp}

// Sentinel errors; test them with errors.Is.
var (
	// ErrInvalidValue reports a value that does not fit its field's
	// declaration (type, max_length, pattern or allowed values).
	ErrInvalidValue = errors.New("invalid profile value")
	// ErrUnknownField reports a field name that is not declared.
	ErrUnknownField = errors.New("unknown profile field")
	// ErrMissingRequired reports a required field without a value (and
	// without a default).
	ErrMissingRequired = errors.New("required profile field missing")
	// ErrCorrupt reports a stored profile this package did not write.
	ErrCorrupt = errors.New("corrupt stored profile")
	// ErrInvalidDeclaration reports a bad field declaration.
	ErrInvalidDeclaration = errors.New("invalid profile field declaration")
)

// MaxNameLength is the longest field name accepted.
const MaxNameLength = 64

// builtinNames are the fields of Django's AbstractUser (and its pk), and
// the keys the gateway already puts in input.user: a profile field may
// not shadow any of them.
var builtinNames = []string{
	"id", "pk", "password", "last_login", "is_superuser", "username",
	"first_name", "last_name", "email", "is_staff", "is_active",
	"date_joined", "groups", "user_permissions",
	"is_authenticated", "is_anonymous", "permissions", "backend", "session", "profile",
}

// IsBuiltin reports whether name is one of Django's built-in user fields
// (or a key of the gateway's input.user), which a profile field may not
// shadow.
func IsBuiltin(name string) bool { return slices.Contains(builtinNames, name) }

// CheckName checks a field name: a lower-case Python identifier (letters,
// digits, underscores, not starting with a digit or underscore), at most
// MaxNameLength long, not a built-in user field.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidDeclaration)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: name %q is longer than %d characters", ErrInvalidDeclaration, name, MaxNameLength)
	case !validName(name):
		return fmt.Errorf("%w: name %q must be lower-case letters, digits and underscores, starting with a letter", ErrInvalidDeclaration, name)
	case IsBuiltin(name):
		return fmt.Errorf("%w: name %q shadows Django's built-in user field (or a key of input.user); choose another", ErrInvalidDeclaration, name)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > MaxNameLength || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseType parses a declared type name.
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if s == string(t) {
			return t, nil
		}
	}
	q := make([]string, len(Types))
	for i, t := range Types {
		q[i] = strconv.Quote(string(t))
	}
	return "", fmt.Errorf("%w: type must be one of %s, got %q", ErrInvalidDeclaration, strings.Join(q, ", "), s)
}

// Field is one declared profile field, compiled.
type Field struct {
	// Name is the field's name: input.user.profile.<Name>.
	Name string
	// Type is the field's type.
	Type Type
	// Required fields must be given a value when a user is created
	// (unless they have a Default), as Django's REQUIRED_FIELDS.
	Required bool
	// Default is the value of users without one (nil: none). It is never
	// stored: users created before the field was declared get it too.
	Default any
	// MaxLength bounds a string (or each item of a string list), in
	// characters; 0 means no bound.
	MaxLength int
	// Pattern, when set, must match the whole string (or each item).
	Pattern *regexp.Regexp
	// Allowed, when set, lists the only values accepted (for a string
	// list: the only items).
	Allowed []any
	// Header is the request header that carries the value upstream; empty
	// for none.
	Header string
}

// CompilePattern compiles a pattern so that it must match a whole value:
// the expression is wrapped in ^(?:...)$ (Go's RE2 syntax).
func CompilePattern(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		if _, err2 := regexp.Compile(p); err2 != nil {
			err = err2 // report the error against what was written
		}
		return nil, fmt.Errorf("%w: pattern: %w", ErrInvalidDeclaration, err)
	}
	return re, nil
}

// Check validates v (a value in its Go form) against the declaration.
func (f *Field) Check(v any) error {
	switch f.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return f.typeErr(v)
		}
		return f.checkString(s, "")
	case Integer:
		n, ok := v.(int64)
		if !ok {
			return f.typeErr(v)
		}
		if len(f.Allowed) > 0 && !slices.Contains(f.Allowed, any(n)) {
			return fmt.Errorf("%w: %s: must be one of %s, got %d", ErrInvalidValue, f.Name, f.allowedText(), n)
		}
	case Boolean:
		if _, ok := v.(bool); !ok {
			return f.typeErr(v)
		}
	case StringList:
		l, ok := v.([]string)
		if !ok {
			return f.typeErr(v)
		}
		for i, s := range l {
			if err := f.checkString(s, fmt.Sprintf("[%d]", i)); err != nil {
				return err
			}
		}
	case Timestamp:
		t, ok := v.(time.Time)
		if !ok || t.IsZero() {
			return f.typeErr(v)
		}
	default:
		return fmt.Errorf("%w: %s: unknown type %q", ErrInvalidDeclaration, f.Name, f.Type)
	}
	return nil
}

func (f *Field) checkString(s, index string) error {
	name := f.Name + index
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s: must be valid UTF-8", ErrInvalidValue, name)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: %s: must not contain control characters", ErrInvalidValue, name)
	}
	if n := utf8.RuneCountInString(s); f.MaxLength > 0 && n > f.MaxLength {
		return fmt.Errorf("%w: %s: must be at most %d characters, got %d", ErrInvalidValue, name, f.MaxLength, n)
	}
	if f.Pattern != nil && !f.Pattern.MatchString(s) {
		return fmt.Errorf("%w: %s: %s does not match the pattern %s", ErrInvalidValue, name, quote(s), quote(patternSource(f.Pattern)))
	}
	if len(f.Allowed) > 0 && !slices.Contains(f.Allowed, any(s)) {
		return fmt.Errorf("%w: %s: must be one of %s, got %s", ErrInvalidValue, name, f.allowedText(), quote(s))
	}
	return nil
}

func patternSource(re *regexp.Regexp) string {
	s := re.String()
	return strings.TrimSuffix(strings.TrimPrefix(s, "^(?:"), ")$")
}

func (f *Field) typeErr(v any) error {
	return fmt.Errorf("%w: %s: must be %s, got %s", ErrInvalidValue, f.Name, typeDescription(f.Type), describe(v))
}

func (f *Field) allowedText() string {
	q := make([]string, len(f.Allowed))
	for i, a := range f.Allowed {
		switch a := a.(type) {
		case string:
			q[i] = strconv.Quote(a)
		default:
			q[i] = fmt.Sprint(a)
		}
	}
	return strings.Join(q, ", ")
}

func typeDescription(t Type) string {
	switch t {
	case String:
		return "a string"
	case Integer:
		return "an integer"
	case Boolean:
		return "a boolean (true or false)"
	case StringList:
		return "a list of strings"
	case Timestamp:
		return "an RFC 3339 timestamp such as \"2024-05-01T09:30:00Z\""
	}
	return string(t)
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case int64:
		return "the integer " + strconv.FormatInt(v, 10)
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case []string:
		return "a list"
	case time.Time:
		return "a timestamp"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}

// quote quotes a value for a message, shortening long ones.
func quote(s string) string {
	const maxLen = 60
	if utf8.RuneCountInString(s) > maxLen {
		s = string([]rune(s)[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}

// ParseText parses the text form of a value of type t, as given on the
// command line (--field name=value), in GATEWAY_* variables and in
// fixtures' text columns:
//
//   - string: the text itself;
//   - integer: a decimal integer ("42", "-7");
//   - boolean: true or false (also 1/0, t/f, as strconv.ParseBool);
//   - string_list: items separated by commas ("a,b"), spaces around items
//     trimmed, "" for the empty list; or a JSON array of strings
//     ("[\"a,b\", \"c\"]") when an item holds a comma;
//   - timestamp: RFC 3339 ("2024-05-01T09:30:00Z", offsets allowed),
//     kept in UTC.
//
// It checks only the type; Field.Check checks the constraints.
func ParseText(t Type, s string) (any, error) {
	switch t {
	case String:
		return s, nil
	case Integer:
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
		if err != nil || s != strings.TrimSpace(s) {
			return nil, fmt.Errorf("must be %s, got %s", typeDescription(t), quote(s))
		}
		return n, nil
	case Boolean:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("must be %s, got %s", typeDescription(t), quote(s))
		}
		return b, nil
	case StringList:
		return parseList(s)
	case Timestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("must be %s, got %s", typeDescription(t), quote(s))
		}
		return ts.UTC(), nil
	}
	return nil, fmt.Errorf("unknown type %q", t)
}

func parseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		l, err := decodeJSONStrings(s)
		if err != nil {
			return nil, fmt.Errorf("must be a JSON array of strings: %w", err)
		}
		return l, nil
	}
	parts := strings.Split(s, ",")
	out := make([]string, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("must be items separated by commas, without empty items, got %s", quote(s))
		}
		out[i] = p
	}
	return out, nil
}

// FormatText is the text form of a value (the inverse of ParseText), as
// `user show` prints it.
func FormatText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		for _, s := range v {
			if strings.Contains(s, ",") || s != strings.TrimSpace(s) || s == "" {
				return encodeJSONStrings(v)
			}
		}
		return strings.Join(v, ",")
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
