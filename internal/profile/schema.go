package profile

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Values are a user's profile values by field name, each in its Go form
// (see Type). Values read from storage (Decode) hold timestamps as their
// RFC 3339 text; Schema.Effective types them.
type Values map[string]any

// Schema is the set of declared profile fields, in declaration order. The
// zero Schema (and a nil *Schema) declares no fields. A Schema is
// read-only once built and safe for concurrent use.
type Schema struct {
	fields []Field
	byName map[string]int
}

// NewSchema builds a Schema from compiled fields. Names must be valid and
// unique, defaults and allowed values must fit their declaration; config
// validation reports the same problems with key paths first.
func NewSchema(fields []Field) (*Schema, error) {
	s := &Schema{fields: slices.Clone(fields), byName: make(map[string]int, len(fields))}
	var errs []error
	for i := range s.fields {
		f := &s.fields[i]
		if err := CheckName(f.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := s.byName[f.Name]; dup {
			errs = append(errs, fmt.Errorf("%w: duplicate field %q", ErrInvalidDeclaration, f.Name))
			continue
		}
		s.byName[f.Name] = i
		if _, err := ParseType(string(f.Type)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			continue
		}
		for _, a := range f.Allowed {
			if err := (&Field{Name: f.Name, Type: f.Type, MaxLength: f.MaxLength, Pattern: f.Pattern}).Check(allowedAsValue(f.Type, a)); err != nil {
				errs = append(errs, fmt.Errorf("%w: allowed value: %w", ErrInvalidDeclaration, err))
			}
		}
		if f.Default != nil {
			if err := f.Check(f.Default); err != nil {
				errs = append(errs, fmt.Errorf("%w: default: %w", ErrInvalidDeclaration, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// allowedAsValue turns an allowed item into a value of the field's type,
// for checking it against the other constraints: a string list's allowed
// items are strings.
func allowedAsValue(t Type, a any) any {
	if s, ok := a.(string); ok && t == StringList {
		return []string{s}
	}
	return a
}

// Fields returns the declared fields in declaration order. The caller must
// not modify them.
func (s *Schema) Fields() []Field {
	if s == nil {
		return nil
	}
	return s.fields
}

// Field returns the declaration of the named field.
func (s *Schema) Field(name string) (*Field, bool) {
	if s == nil {
		return nil, false
	}
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.fields[i], true
}

// Len is the number of declared fields.
func (s *Schema) Len() int {
	if s == nil {
		return 0
	}
	return len(s.fields)
}

// ParseAssignment parses "name=value" (the command line's --field) into a
// field name and a value checked against its declaration.
func (s *Schema) ParseAssignment(assignment string) (string, any, error) {
	name, text, ok := strings.Cut(assignment, "=")
	if !ok {
		return "", nil, fmt.Errorf("%w: %s: expected name=value", ErrInvalidValue, quote(assignment))
	}
	v, err := s.Parse(name, text)
	return name, v, err
}

// Parse parses the text form of a value of the named field (ParseText)
// and checks it against the declaration.
func (s *Schema) Parse(name, text string) (any, error) {
	f, ok := s.Field(name)
	if !ok {
		return nil, s.unknown(name)
	}
	v, err := ParseText(f.Type, text)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidValue, name, err.Error())
	}
	if err := f.Check(v); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Schema) unknown(name string) error {
	names := make([]string, 0, s.Len())
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: %s: no profile fields are declared (profile_fields in config.yaml)", ErrUnknownField, quote(name))
	}
	return fmt.Errorf("%w: %s (declared: %s)", ErrUnknownField, quote(name), strings.Join(names, ", "))
}

// Validate checks values a user is about to be stored with: every value
// is declared and fits its declaration. With requireAll, every required
// field without a default must have a value (user creation). All problems
// are reported, joined.
func (s *Schema) Validate(values Values, requireAll bool) error {
	var errs []error
	for _, name := range sortedKeys(values) {
		f, ok := s.Field(name)
		if !ok {
			errs = append(errs, s.unknown(name))
			continue
		}
		if err := f.Check(values[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if requireAll {
		for _, name := range s.MissingRequired(values) {
			errs = append(errs, fmt.Errorf("%w: %s", ErrMissingRequired, name))
		}
	}
	return errors.Join(errs...)
}

// MissingRequired lists the required fields without a default that values
// has no value for, in declaration order.
func (s *Schema) MissingRequired(values Values) []string {
	var out []string
	for _, f := range s.Fields() {
		if _, ok := values[f.Name]; !ok && f.Required && f.Default == nil {
			out = append(out, f.Name)
		}
	}
	return out
}

// Effective is the profile the gateway acts on for a user with the given
// stored values: every declared field with its stored value, typed, or
// its default when the user has none. Stored values of fields no longer
// declared are left out; so is a stored value that no longer fits its
// declaration (its default is NOT used then: the value is not what ops
// declared, and a policy must not take it for the default). A field with
// neither a value nor a default is absent. The result is nil when empty.
func (s *Schema) Effective(stored Values) Values {
	if s.Len() == 0 {
		return nil
	}
	var out Values
	for i := range s.fields {
		f := &s.fields[i]
		raw, ok := stored[f.Name]
		var v any
		switch {
		case ok:
			tv, err := f.fromStored(raw)
			if err != nil || f.Check(tv) != nil {
				continue
			}
			v = tv
		case f.Default != nil:
			v = f.Default
		default:
			continue
		}
		if out == nil {
			out = make(Values, len(s.fields))
		}
		out[f.Name] = v
	}
	return out
}

// Problems describes, per declared field, why the user's stored value is
// not in Effective: "missing (required)" or the check's error. Fields
// without problems are absent. For `user show`.
func (s *Schema) Problems(stored Values) map[string]string {
	out := map[string]string{}
	for i := range s.Fields() {
		f := &s.fields[i]
		raw, ok := stored[f.Name]
		if !ok {
			if f.Required && f.Default == nil {
				out[f.Name] = "missing (required, no default)"
			}
			continue
		}
		tv, err := f.fromStored(raw)
		if err == nil {
			err = f.Check(tv)
		}
		if err != nil {
			out[f.Name] = "stored value ignored: " + strings.TrimPrefix(err.Error(), ErrInvalidValue.Error()+": ")
		}
	}
	return out
}

// fromStored types a stored value: a timestamp is stored as its RFC 3339
// text; every other type is stored as itself.
func (f *Field) fromStored(raw any) (any, error) {
	if f.Type == Timestamp {
		if s, ok := raw.(string); ok {
			return ParseText(Timestamp, s)
		}
	}
	return raw, nil
}

// Undeclared lists, sorted, the names in stored that the schema does not
// declare (kept in storage, unused).
func (s *Schema) Undeclared(stored Values) []string {
	var out []string
	for _, name := range sortedKeys(stored) {
		if _, ok := s.Field(name); !ok {
			out = append(out, name)
		}
	}
	return out
}

func sortedKeys(v Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Plain is v for JSON documents (the upstream assertion's "profile" claim,
// /me): strings, integers, booleans and string lists as themselves,
// timestamps as RFC 3339 strings in UTC. Never nil.
func (v Values) Plain() map[string]any {
	out := make(map[string]any, len(v))
	for name, x := range v {
		if t, ok := x.(time.Time); ok {
			x = t.UTC().Format(time.RFC3339Nano)
		}
		out[name] = x
	}
	return out
}
