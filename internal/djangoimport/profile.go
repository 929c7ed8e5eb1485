package djangoimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// ErrInvalidOptions reports Options that cannot work (a column mapped to
// an undeclared field, a malformed model name).
var ErrInvalidOptions = errors.New("invalid import options")

// Options adapt the import to a project with a custom user model
// (AUTH_USER_MODEL) whose extra columns become profile fields.
type Options struct {
	// UserModel is the model label of the users in the fixture, as
	// dumpdata writes it ("accounts.user"); empty means "auth.user". The
	// app label is exact, the model name is not case-sensitive.
	UserModel string
	// Profile is the declared profile fields; nil declares none.
	Profile *profile.Schema
	// Columns maps a column of the custom user model to the profile field
	// it fills; a column not listed fills the field of the same name, if
	// one is declared. Columns no field takes are reported in
	// Fixture.Unmapped and not imported.
	Columns map[string]string
}

func (p *parser) setOptions(o Options) error {
	p.userModel = modelUser
	if o.UserModel != "" {
		app, model, ok := strings.Cut(o.UserModel, ".")
		if !ok || !validAppLabel(app) || model == "" || strings.Contains(model, ".") {
			return fmt.Errorf("%w: user model %q: want app_label.model, e.g. \"accounts.user\"", ErrInvalidOptions, o.UserModel)
		}
		p.userModel = app + "." + strings.ToLower(model)
	}
	if p.userModel != modelUser && (p.userModel == modelGroup || p.userModel == modelPermission || p.userModel == modelContentType) {
		return fmt.Errorf("%w: user model %q is one of Django's own models", ErrInvalidOptions, o.UserModel)
	}
	p.profile = o.Profile
	p.columns = map[string]string{}
	p.unmapped = map[string]int{}
	var errs []error
	for col, field := range o.Columns {
		switch {
		case slices.Contains(userFields, col):
			errs = append(errs, fmt.Errorf("%w: column %q is a field of Django's user, not an extra column", ErrInvalidOptions, col))
		case !declared(o.Profile, field):
			errs = append(errs, fmt.Errorf("%w: column %q: profile field %q is not declared (profile_fields)", ErrInvalidOptions, col, field))
		default:
			p.columns[col] = field
		}
	}
	if p.userModel == modelUser && len(o.Columns) > 0 {
		errs = append(errs, fmt.Errorf("%w: column mappings need a custom user model (--user-model); auth.user has no extra columns", ErrInvalidOptions))
	}
	return errors.Join(errs...)
}

func declared(s *profile.Schema, name string) bool {
	_, ok := s.Field(name)
	return ok
}

// userDump names the user model for messages about what to dump.
func (p *parser) userDump() string {
	if p.userModel == modelUser {
		return ""
	}
	return p.userModel
}

// profileColumns takes the custom user model's extra columns out of
// fields: the mapped ones become u.Profile, the others are counted as
// unmapped. It returns the remaining (built-in) fields.
func (p *parser) profileColumns(o *obj, u *authn.User, fields map[string]json.RawMessage) map[string]json.RawMessage {
	builtin := make(map[string]json.RawMessage, len(fields))
	for _, col := range sortedKeys(fields) {
		raw := fields[col]
		if slices.Contains(userFields, col) {
			builtin[col] = raw
			continue
		}
		name, ok := p.columns[col]
		if !ok {
			name = col
		}
		f, ok := p.profile.Field(name)
		if !ok {
			if string(bytes.TrimSpace(raw)) != "null" {
				p.unmapped[col]++
			} else if _, seen := p.unmapped[col]; !seen {
				p.unmapped[col] = 0
			}
			continue
		}
		v, set, msg := columnValue(f, raw)
		if msg != "" {
			p.add(o, col, "profile field %s: %s", f.Name, msg)
			continue
		}
		if !set {
			continue // null: no value, as for a user created before the field
		}
		if err := f.Check(v); err != nil {
			p.add(o, col, "%v", err)
			continue
		}
		if u.Profile == nil {
			u.Profile = profile.Values{}
		}
		if _, dup := u.Profile[f.Name]; dup {
			p.add(o, col, "profile field %s is filled by another column too", f.Name)
			continue
		}
		u.Profile[f.Name] = v
	}
	return builtin
}

// columnValue reads a column as a value of f's type: strings as JSON
// strings, integers as JSON integers, booleans as true/false, string lists
// as JSON arrays of strings (ArrayField, JSONField), timestamps as
// DjangoJSONEncoder writes DateTimeField (naive ones taken as UTC) or
// DateField (midnight UTC). null is no value.
func columnValue(f *profile.Field, raw json.RawMessage) (v any, set bool, msg string) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, false, ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, false, "not valid JSON"
	}
	switch f.Type {
	case profile.String:
		if s, ok := x.(string); ok {
			return s, true, ""
		}
	case profile.Integer:
		if n, ok := x.(json.Number); ok {
			if i, err := n.Int64(); err == nil && !strings.ContainsAny(string(n), ".eE") {
				return i, true, ""
			}
		}
	case profile.Boolean:
		if b, ok := x.(bool); ok {
			return b, true, ""
		}
	case profile.StringList:
		if items, ok := x.([]any); ok {
			out := make([]string, 0, len(items))
			for _, it := range items {
				s, ok := it.(string)
				if !ok {
					return nil, false, "want a list of strings, got a list holding " + describe(mustJSON(it))
				}
				out = append(out, s)
			}
			return out, true, ""
		}
	case profile.Timestamp:
		if s, ok := x.(string); ok {
			for _, l := range append(slices.Clone(timeLayouts), "2006-01-02") {
				if t, err := time.Parse(l, s); err == nil {
					return t.UTC(), true, ""
				}
			}
		}
	}
	return nil, false, fmt.Sprintf("want %s, got %s", want(f.Type), describe(raw))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func want(t profile.Type) string {
	switch t {
	case profile.String:
		return "a string"
	case profile.Integer:
		return "an integer"
	case profile.Boolean:
		return "true or false"
	case profile.StringList:
		return "a list of strings"
	case profile.Timestamp:
		return `a date and time such as "2024-01-15T09:30:00.123Z"`
	}
	return string(t)
}

// profileReport fills Fixture.Unmapped and Fixture.MissingRequired.
func (p *parser) profileReport(fx *Fixture) {
	for col, n := range p.unmapped {
		fx.Unmapped = append(fx.Unmapped, UnmappedColumn{Column: col, Users: n})
	}
	slices.SortFunc(fx.Unmapped, func(a, b UnmappedColumn) int { return strings.Compare(a.Column, b.Column) })
	for _, iu := range fx.Users {
		for _, name := range p.profile.MissingRequired(iu.User.Profile) {
			if fx.MissingRequired == nil {
				fx.MissingRequired = map[string]int{}
			}
			fx.MissingRequired[name]++
		}
	}
}
