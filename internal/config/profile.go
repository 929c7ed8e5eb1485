package config

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

// ProfileField declares one custom user field (profile_fields[i]): what a
// Django project adds to its user with a custom user model or a
// UserProfile. Policies read it as input.user.profile.<name>.
type ProfileField struct {
	// Name is the field's name: a lower-case identifier that is not one of
	// Django's built-in user fields (username, email, groups, ...).
	Name string `yaml:"name"`
	// Type is string, integer, boolean, string_list or timestamp.
	Type string `yaml:"type"`
	// Required fields must be given when a user is created (createsuperuser
	// and user create prompt for them on a terminal, as Django does for
	// REQUIRED_FIELDS), unless they have a default.
	Required bool `yaml:"required"`
	// Default is the value of users that have none, including users
	// created before the field was declared. Never stored.
	Default Value `yaml:"default"`
	// MaxLength bounds a string, or each item of a string list, in
	// characters; 0 means no bound.
	MaxLength int `yaml:"max_length"`
	// Pattern is a regular expression (Go RE2 syntax) that the whole
	// string, or each item of a string list, must match.
	Pattern string `yaml:"pattern"`
	// Allowed lists the only values accepted (string and integer fields),
	// or the only items (string lists). Empty allows any.
	Allowed []string `yaml:"allowed"`
	// Header, when set, forwards the value to upstreams in this request
	// header (stripped from client requests like every identity header).
	Header string `yaml:"header"`
}

// Value is a setting whose type depends on another setting, such as a
// profile field's default: a YAML scalar kept as its text with its YAML
// tag, or a list of scalars. From the environment it is text without a
// tag, parsed as the command line parses values.
type Value struct {
	// Set is false when the key is absent or null.
	Set bool
	// Tag is the YAML tag of a scalar ("!!str", "!!int", "!!bool",
	// "!!float", "!!timestamp"); "" for text from the environment and for
	// a list.
	Tag string
	// Text is the scalar's text.
	Text string
	// List holds the items of a YAML list; IsList tells an empty list from
	// a scalar.
	List   []string
	IsList bool
}

// profileValue is v as a value of a field of type t, or a message.
func profileValue(t profile.Type, v Value) (any, string) {
	if v.IsList {
		if t != profile.StringList {
			return nil, fmt.Sprintf("must be %s, got a list", describeType(t))
		}
		return v.List, ""
	}
	if t == profile.StringList && v.Tag != "" {
		return nil, fmt.Sprintf("must be a list of strings such as [a, b], got %s", quoteValue(v.Text))
	}
	switch v.Tag {
	case "", "!!str":
	case "!!int":
		if t != profile.Integer && t != profile.String {
			return nil, fmt.Sprintf("must be %s, got %s", describeType(t), quoteValue(v.Text))
		}
	case "!!bool":
		if t != profile.Boolean {
			return nil, fmt.Sprintf("must be %s, got %s (quote it if you mean the text)", describeType(t), v.Text)
		}
	case "!!float":
		if t != profile.String {
			return nil, fmt.Sprintf("must be %s, got %s", describeType(t), quoteValue(v.Text))
		}
	case "!!timestamp":
		if t != profile.Timestamp && t != profile.String {
			return nil, fmt.Sprintf("must be %s, got %s", describeType(t), quoteValue(v.Text))
		}
	default:
		return nil, fmt.Sprintf("must be %s, got a value tagged %s", describeType(t), quoteValue(v.Tag))
	}
	if v.Tag == "!!str" && (t == profile.Integer || t == profile.Boolean) {
		return nil, fmt.Sprintf("must be %s, got %s (a string)", describeType(t), quoteValue(v.Text))
	}
	if v.Tag == "!!timestamp" && t == profile.Timestamp {
		// YAML timestamps may omit the time or zone; take them as UTC.
		for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if ts, err := time.Parse(l, v.Text); err == nil {
				return ts.UTC(), ""
			}
		}
	}
	x, err := profile.ParseText(t, v.Text)
	if err != nil {
		return nil, err.Error()
	}
	return x, ""
}

func describeType(t profile.Type) string {
	switch t {
	case profile.String:
		return "a string"
	case profile.Integer:
		return "an integer"
	case profile.Boolean:
		return "a boolean (true or false)"
	case profile.StringList:
		return "a list of strings"
	case profile.Timestamp:
		return "a timestamp such as 2024-05-01T09:30:00Z"
	}
	return string(t)
}

// compileProfileField turns a declaration into a profile.Field, calling
// bad(subkey, message) for every problem ("" for the entry itself). ok is
// false when there was any.
func compileProfileField(pf ProfileField, bad func(key, format string, args ...any)) (f profile.Field, ok bool) {
	ok = true
	fail := func(key, format string, args ...any) {
		ok = false
		bad(key, format, args...)
	}
	f.Name, f.Required, f.MaxLength, f.Header = pf.Name, pf.Required, pf.MaxLength, pf.Header
	if err := profile.CheckName(pf.Name); err != nil {
		fail("name", "%s", declMessage(err))
	}
	t, err := profile.ParseType(pf.Type)
	if err != nil {
		fail("type", "%s", declMessage(err))
		return f, false
	}
	f.Type = t
	textual := t == profile.String || t == profile.StringList
	switch {
	case pf.MaxLength < 0:
		fail("max_length", "must be 0 (no bound) or more, got %d", pf.MaxLength)
	case pf.MaxLength > 0 && !textual:
		fail("max_length", "applies only to string and string_list fields, not %s", t)
	}
	if pf.Pattern != "" {
		if !textual {
			fail("pattern", "applies only to string and string_list fields, not %s", t)
		} else if re, err := profile.CompilePattern(pf.Pattern); err != nil {
			fail("pattern", "%s", declMessage(err))
		} else {
			f.Pattern = re
		}
	}
	if len(pf.Allowed) > 0 && !textual && t != profile.Integer {
		fail("allowed", "applies only to string, string_list and integer fields, not %s", t)
	} else {
		seen := map[string]int{}
		for i, a := range pf.Allowed {
			key := indexPath("allowed", i)
			if j, dup := seen[a]; dup {
				fail(key, "duplicate value %s (also allowed[%d])", quoteValue(a), j)
				continue
			}
			seen[a] = i
			itemType := t
			if t == profile.StringList {
				itemType = profile.String
			}
			v, err := profile.ParseText(itemType, a)
			if err != nil {
				fail(key, "%s", err.Error())
				continue
			}
			check := profile.Field{Name: pf.Name, Type: itemType, MaxLength: f.MaxLength, Pattern: f.Pattern}
			if err := check.Check(v); err != nil {
				fail(key, "%s", valueMessage(err))
				continue
			}
			f.Allowed = append(f.Allowed, v)
		}
	}
	if pf.Default.Set {
		v, msg := profileValue(t, pf.Default)
		switch {
		case msg != "":
			fail("default", "%s", msg)
		default:
			if err := f.Check(v); err != nil {
				fail("default", "%s", valueMessage(err))
			} else {
				f.Default = v
			}
		}
	}
	return f, ok
}

// declMessage strips the sentinel's text from a declaration error: the
// key path already says what it is about.
func declMessage(err error) string {
	return strings.TrimPrefix(err.Error(), profile.ErrInvalidDeclaration.Error()+": ")
}

// valueMessage is a value error without its sentinel and field name.
func valueMessage(err error) string {
	s := strings.TrimPrefix(err.Error(), profile.ErrInvalidValue.Error()+": ")
	if _, rest, ok := strings.Cut(s, ": "); ok {
		return rest
	}
	return s
}

func (v *validator) profileFields(c *Config) {
	names := map[string]int{}
	identity := map[string]string{} // canonical header -> key path
	for _, e := range []struct{ key, name string }{
		{"identity_headers.user", c.IdentityHeaders.User},
		{"identity_headers.email", c.IdentityHeaders.Email},
		{"identity_headers.groups", c.IdentityHeaders.Groups},
		{"upstream_assertion.header", c.UpstreamAssertion.Header},
		{"authentication.remote_user.header", c.Authentication.RemoteUser.Header},
	} {
		if e.name != "" {
			identity[normalizeHeader(e.name)] = e.key
		}
	}
	for i, pf := range c.ProfileFields {
		p := indexPath("profile_fields", i)
		compileProfileField(pf, func(key, format string, args ...any) {
			v.add(joinPath(p, key), format, args...)
		})
		if pf.Name != "" {
			if j, dup := names[pf.Name]; dup {
				v.add(p+".name", "duplicate name %s (also profile_fields[%d].name)", quoteValue(pf.Name), j)
			} else {
				names[pf.Name] = i
			}
		}
		if c.Signup.Enabled && pf.Required && !pf.Default.Set {
			v.add(p+".default", "required when signup.enabled is true and the field is required: self-registration cannot set it")
		}
		if pf.Header == "" {
			continue
		}
		hp := p + ".header"
		if !isToken(pf.Header) {
			v.add(hp, "must be a header name of letters, digits and !#$%%&'*+-.^_`|~, got %s", quoteValue(pf.Header))
			continue
		}
		n := normalizeHeader(pf.Header)
		reserved := strings.HasPrefix(n, "x-forwarded-")
		for _, r := range reservedHeaders {
			reserved = reserved || n == normalizeHeader(r)
		}
		if reserved {
			v.add(hp, "must not be %s: that header belongs to HTTP or the gateway", http.CanonicalHeaderKey(pf.Header))
			continue
		}
		if other, dup := identity[n]; dup {
			// Compared as the proxy strips them: case-insensitive, with
			// "_" and "." taken for "-".
			v.add(hp, "same header as %s (header names are compared ignoring case, with \"_\" and \".\" taken for \"-\")", other)
			continue
		}
		identity[n] = hp
	}
}

// normalizeHeader folds a header name as the proxy compares them: lower
// case, every byte other than a letter or digit taken for "-".
func normalizeHeader(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			b[i] = '-'
		}
	}
	return string(b)
}

// ErrInvalidProfileFields is returned by ProfileSchema for declarations
// Validate would refuse.
var ErrInvalidProfileFields = errors.New("invalid profile_fields")

// ProfileSchema compiles profile_fields into the schema every part of the
// gateway honours. It fails only on declarations Validate refuses.
func (c *Config) ProfileSchema() (*profile.Schema, error) {
	fields := make([]profile.Field, 0, len(c.ProfileFields))
	var probs []string
	for i, pf := range c.ProfileFields {
		f, ok := compileProfileField(pf, func(key, format string, args ...any) {
			probs = append(probs, joinPath(indexPath("profile_fields", i), key)+": "+fmt.Sprintf(format, args...))
		})
		if ok {
			fields = append(fields, f)
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidProfileFields, strings.Join(probs, "; "))
	}
	s, err := profile.NewSchema(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProfileFields, err)
	}
	return s, nil
}
