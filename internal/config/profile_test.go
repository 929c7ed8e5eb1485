package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

const profileYAML = `
profile_fields:
  - name: department
    type: string
    required: true
    default: general
    max_length: 20
    pattern: "[a-z]+"
    allowed: [general, sales, ops]
    header: X-Remote-Department
  - name: level
    type: integer
    default: 1
    allowed: [1, 2, 3]
  - name: remote
    type: boolean
    default: false
  - name: tags
    type: string_list
    default: [a, b]
  - name: hired
    type: timestamp
    default: 2020-01-02T03:04:05Z
`

func TestProfileFieldsDecodeAndCompile(t *testing.T) {
	c, err := Decode("config.yaml", []byte(profileYAML))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.ProfileSchema()
	if err != nil {
		t.Fatal(err)
	}
	want := profile.Values{
		"department": "general", "level": int64(1), "remote": false, "tags": []string{"a", "b"},
		"hired": time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if got := s.Effective(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %#v\nwant %#v", got, want)
	}
	if f, _ := s.Field("department"); f.Header != "X-Remote-Department" || !f.Required || f.MaxLength != 20 || len(f.Allowed) != 3 {
		t.Errorf("department compiled as %+v", f)
	}
	// GATEWAY_* variables set a default as text, as --field does.
	c.ApplyDefaults()
	if err := c.ApplyEnv([]string{"GATEWAY_PROFILE_FIELDS_1_DEFAULT=3", "GATEWAY_PROFILE_FIELDS_3_DEFAULT=x,y"}); err != nil {
		t.Fatal(err)
	}
	s, err = c.ProfileSchema()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Effective(nil); got["level"] != int64(3) || !reflect.DeepEqual(got["tags"], []string{"x", "y"}) {
		t.Errorf("env defaults: %#v", got)
	}
}

func TestProfileFieldsValidation(t *testing.T) {
	tests := []struct {
		name   string
		fields []ProfileField
		mutate func(*Config)
		want   []string
	}{
		{"valid", []ProfileField{{Name: "department", Type: "string", Header: "X-Dept"}}, nil, nil},
		{"name missing and bad type", []ProfileField{{Type: "float"}}, nil, []string{
			`profile_fields[0].name: the name is empty`,
			`profile_fields[0].type: type must be one of "string", "integer", "boolean", "string_list", "timestamp", got "float"`,
		}},
		{"shadows a Django field", []ProfileField{{Name: "email", Type: "string"}}, nil, []string{
			`profile_fields[0].name: name "email" shadows Django's built-in user field (or a key of input.user); choose another`,
		}},
		{"bad name", []ProfileField{{Name: "Dept-Name", Type: "string"}}, nil, []string{
			`profile_fields[0].name: name "Dept-Name" must be lower-case letters, digits and underscores, starting with a letter`,
		}},
		{"duplicate", []ProfileField{{Name: "a", Type: "string"}, {Name: "a", Type: "string"}}, nil, []string{
			`profile_fields[1].name: duplicate name "a" (also profile_fields[0].name)`,
		}},
		{"bad pattern", []ProfileField{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}, {Name: "c", Type: "string", Pattern: "(["}}, nil, []string{
			"profile_fields[2].pattern: pattern: error parsing regexp: missing closing ]: `[`",
		}},
		{"constraints on the wrong type", []ProfileField{{Name: "a", Type: "boolean", MaxLength: 3, Pattern: "x", Allowed: []string{"true"}}}, nil, []string{
			`profile_fields[0].max_length: applies only to string and string_list fields, not boolean`,
			`profile_fields[0].pattern: applies only to string and string_list fields, not boolean`,
			`profile_fields[0].allowed: applies only to string, string_list and integer fields, not boolean`,
		}},
		{"negative max_length", []ProfileField{{Name: "a", Type: "string", MaxLength: -1}}, nil, []string{
			`profile_fields[0].max_length: must be 0 (no bound) or more, got -1`,
		}},
		{"allowed values checked", []ProfileField{{Name: "a", Type: "integer", Allowed: []string{"1", "x", "1"}}}, nil, []string{
			`profile_fields[0].allowed[1]: must be an integer, got "x"`,
			`profile_fields[0].allowed[2]: duplicate value "1" (also allowed[0])`,
		}},
		{"allowed value against max_length", []ProfileField{{Name: "a", Type: "string", MaxLength: 2, Allowed: []string{"abc"}}}, nil, []string{
			`profile_fields[0].allowed[0]: must be at most 2 characters, got 3`,
		}},
		{"default of the wrong type", []ProfileField{{Name: "a", Type: "integer", Default: Value{Set: true, Tag: "!!str", Text: "x"}}}, nil, []string{
			`profile_fields[0].default: must be an integer, got "x" (a string)`,
		}},
		{"boolean default for a string", []ProfileField{{Name: "a", Type: "string", Default: Value{Set: true, Tag: "!!bool", Text: "true"}}}, nil, []string{
			`profile_fields[0].default: must be a string, got true (quote it if you mean the text)`,
		}},
		{"list default for a string", []ProfileField{{Name: "a", Type: "string", Default: Value{Set: true, IsList: true}}}, nil, []string{
			`profile_fields[0].default: must be a string, got a list`,
		}},
		{"default not allowed", []ProfileField{{Name: "a", Type: "string", Allowed: []string{"x"}, Default: Value{Set: true, Tag: "!!str", Text: "y"}}}, nil, []string{
			`profile_fields[0].default: must be one of "x", got "y"`,
		}},
		{"header clashes", []ProfileField{{Name: "a", Type: "string", Header: "x_remote_user"}, {Name: "b", Type: "string", Header: "X-B"}, {Name: "c", Type: "string", Header: "x.b"}}, nil, []string{
			`profile_fields[0].header: same header as identity_headers.user (header names are compared ignoring case, with "_" and "." taken for "-")`,
			`profile_fields[2].header: same header as profile_fields[1].header (header names are compared ignoring case, with "_" and "." taken for "-")`,
		}},
		{"reserved header", []ProfileField{{Name: "a", Type: "string", Header: "Cookie"}, {Name: "b", Type: "string", Header: "X-Forwarded-Dept"}, {Name: "c", Type: "string", Header: "X A"}}, nil, []string{
			`profile_fields[0].header: must not be Cookie: that header belongs to HTTP or the gateway`,
			`profile_fields[1].header: must not be X-Forwarded-Dept: that header belongs to HTTP or the gateway`,
			"profile_fields[2].header: must be a header name of letters, digits and !#$%&'*+-.^_`|~, got \"X A\"",
		}},
		{"required without default and signup", []ProfileField{{Name: "a", Type: "string", Required: true}}, func(c *Config) { c.Signup.Enabled = true }, []string{
			`profile_fields[0].default: required when signup.enabled is true and the field is required: self-registration cannot set it`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.ProfileFields = tc.fields
			if tc.mutate != nil {
				tc.mutate(c)
			}
			err := c.Validate()
			var got []string
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					got = append(got, p.String())
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if _, err := c.ProfileSchema(); (err == nil) != (len(tc.want) == 0 || tc.mutate != nil || strings.Contains(tc.name, "header")) {
				t.Errorf("ProfileSchema: %v", err)
			}
		})
	}
}

func TestProfileFieldsDecodeProblems(t *testing.T) {
	_, err := Decode("config.yaml", []byte("profile_fields:\n  - name: a\n    type: string\n    default: {x: 1}\n    colour: red\n"))
	want := "config.yaml: profile_fields[0].default: must be a scalar or a list, got a mapping (line 4)\nconfig.yaml: profile_fields[0].colour: unknown key (line 5)"
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
}
