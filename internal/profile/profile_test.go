package profile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testSchema(t *testing.T) *Schema {
	t.Helper()
	re, err := CompilePattern(`[a-z]+`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema([]Field{
		{Name: "department", Type: String, Required: true, MaxLength: 10, Pattern: re, Default: "general"},
		{Name: "level", Type: Integer, Allowed: []any{int64(1), int64(2), int64(3)}},
		{Name: "remote", Type: Boolean, Default: false},
		{Name: "tags", Type: StringList, MaxLength: 5},
		{Name: "hired", Type: Timestamp},
		{Name: "employee_number", Type: String, Required: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		ok          bool
	}{
		{"identifier", "department", true},
		{"digits and underscores", "tenant_id2", true},
		{"empty", "", false},
		{"upper case", "Department", false},
		{"leading digit", "2fa", false},
		{"leading underscore", "_x", false},
		{"dash", "tenant-id", false},
		{"Django field", "email", false},
		{"Django relation", "user_permissions", false},
		{"input.user key", "permissions", false},
		{"too long", strings.Repeat("a", MaxNameLength+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckName(tc.field)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidDeclaration)) {
				t.Errorf("CheckName(%q) = %v", tc.field, err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	s := testSchema(t)
	for _, tc := range []struct {
		name, field, text string
		want              any
		wantErr           string
	}{
		{"string", "department", "sales", "sales", ""},
		{"string too long", "department", "abcdefghijk", nil, "department: must be at most 10 characters, got 11"},
		{"string against pattern", "department", "Sales", nil, `department: "Sales" does not match the pattern "[a-z]+"`},
		{"pattern is anchored", "department", "sales1", nil, "does not match"},
		{"integer", "level", "2", int64(2), ""},
		{"integer not allowed", "level", "4", nil, "level: must be one of 1, 2, 3, got 4"},
		{"not an integer", "level", "two", nil, `level: must be an integer, got "two"`},
		{"boolean", "remote", "true", true, ""},
		{"not a boolean", "remote", "yes", nil, "must be a boolean"},
		{"list", "tags", "a, b", []string{"a", "b"}, ""},
		{"empty list", "tags", "", []string{}, ""},
		{"JSON list", "tags", `["a,b"]`, []string{"a,b"}, ""},
		{"list item too long", "tags", "abcdef", nil, "tags[0]: must be at most 5 characters"},
		{"empty list item", "tags", "a,,b", nil, "without empty items"},
		{"timestamp", "hired", "2020-01-02T03:04:05+01:00", time.Date(2020, 1, 2, 2, 4, 5, 0, time.UTC), ""},
		{"not a timestamp", "hired", "2020-01-02", nil, "must be an RFC 3339 timestamp"},
		{"control characters", "employee_number", "a\nb", nil, "control characters"},
		{"unknown field", "salary", "1", nil, `unknown profile field: "salary" (declared: department, level, remote, tags, hired, employee_number)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Parse(tc.field, tc.text)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse = %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

func TestNewSchemaRejectsBadDeclarations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fields  []Field
		wantErr string
	}{
		{"duplicate", []Field{{Name: "a", Type: String}, {Name: "a", Type: Integer}}, `duplicate field "a"`},
		{"shadows Django", []Field{{Name: "username", Type: String}}, "shadows"},
		{"bad type", []Field{{Name: "a", Type: "float"}}, "type must be one of"},
		{"default of the wrong type", []Field{{Name: "a", Type: Integer, Default: "x"}}, "default: invalid profile value: a: must be an integer"},
		{"default not allowed", []Field{{Name: "a", Type: String, Allowed: []any{"x"}, Default: "y"}}, "must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSchema(tc.fields)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	s := testSchema(t)
	for _, tc := range []struct {
		name   string
		stored Values
		want   Values
	}{
		{"nothing stored: the defaults", nil, Values{"department": "general", "remote": false}},
		{"stored values win, typed", Values{"department": "ops", "hired": "2020-01-02T03:04:05Z", "tags": []string{"a"}},
			Values{"department": "ops", "remote": false, "hired": time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), "tags": []string{"a"}}},
		{"removed fields are ignored", Values{"salary": int64(5)}, Values{"department": "general", "remote": false}},
		{"a value of another type is left out, not defaulted", Values{"department": int64(3), "remote": "no"}, nil},
		{"a value failing a tightened constraint is left out", Values{"department": "Sales", "level": int64(9)}, Values{"remote": false}},
		{"a bad timestamp is left out", Values{"hired": "yesterday"}, Values{"department": "general", "remote": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Effective(tc.stored); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Effective = %#v\nwant %#v", got, tc.want)
			}
		})
	}
	if got := (*Schema)(nil).Effective(Values{"a": "b"}); got != nil {
		t.Errorf("nil schema: %v", got)
	}
}

func TestValidateRequired(t *testing.T) {
	s := testSchema(t)
	err := s.Validate(Values{"level": int64(7)}, true)
	if !errors.Is(err, ErrMissingRequired) || !errors.Is(err, ErrInvalidValue) ||
		!strings.Contains(err.Error(), "employee_number") || strings.Contains(err.Error(), "missing: department") {
		t.Errorf("Validate = %v", err)
	}
	if err := s.Validate(Values{"employee_number": "e1"}, true); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	v := Values{
		"department": `r&d "quoted" <x> ü`, "level": int64(-9223372036854775808), "remote": true,
		"tags": []string{}, "hired": time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
		"long": strings.Repeat("ü", 100),
	}
	enc, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"department":"r&d \"quoted\" <x> ü","hired":"2020-01-02T02:04:05.000000006Z","level":-9223372036854775808,` +
		`"long":"` + strings.Repeat("ü", 100) + `","remote":true,"tags":[]}`
	if enc != want {
		t.Fatalf("Encode = %s\nwant     %s", enc, want)
	}
	wantValue := map[string]string{
		"department": `"r&d \"quoted\" <x> ü"`, "hired": `"2020-01-02T02:04:05.000000006Z"`,
		"level": "-9223372036854775808", "long": `"` + strings.Repeat("ü", 100) + `"`, "remote": "true", "tags": "[]",
	}
	wantBack := Values{"department": v["department"], "level": v["level"], "remote": true, "tags": []string{},
		"hired": "2020-01-02T02:04:05.000000006Z", "long": v["long"]}
	for name, x := range v {
		enc, err := EncodeValue(name, x)
		if err != nil || enc != wantValue[name] {
			t.Errorf("EncodeValue(%s) = %s, %v; want %s", name, enc, err, wantValue[name])
			continue
		}
		got, err := DecodeField(name, enc)
		if err != nil || !reflect.DeepEqual(got, wantBack[name]) {
			t.Errorf("DecodeField(%s, %s) = %#v, %v", name, enc, got, err)
		}
	}
	if enc, err := Encode(nil); enc != "" || err != nil {
		t.Errorf("Encode(nil) = %q, %v", enc, err)
	}
	if _, err := Encode(Values{"a": 1.5}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("float encoded: %v", err)
	}
	if _, err := EncodeValue("A", "x"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("bad name encoded: %v", err)
	}
	if _, err := Encode(Values{"a": strings.Repeat("x", MaxEncodedLength)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge profile encoded: %v", err)
	}
}

func TestDecodeFieldIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"a", ``}, {"a", ` `}, {"a", `null`}, {"a", `1.5`}, {"a", `1e3`}, {"a", `99999999999999999999`},
		{"a", `{}`}, {"a", `{"b":1}`}, {"a", `[1]`}, {"a", `["x",null]`}, {"a", `[`}, {"a", `"x`},
		{"a", `1 2`}, {"a", `"x""y"`}, {"a", `1x`}, {"a", `true false`}, {"a", "\"\xff\""},
		{"a", `"` + strings.Repeat("x", MaxEncodedLength) + `"`},
		{"A", `1`}, {"", `1`}, {"_a", `1`}, {"a:b", `1`}, {strings.Repeat("a", MaxNameLength+1), `1`},
	} {
		if v, err := DecodeField(tc.name, tc.value); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeField(%q, %q) = %#v, %v; want ErrCorrupt", tc.name, tc.value, v, err)
		}
	}
}

func TestFormatTextRoundTrip(t *testing.T) {
	s := testSchema(t)
	for _, tc := range []struct {
		field string
		v     any
	}{
		{"tags", []string{"a", "b"}}, {"tags", []string{"a,b", " c"}}, {"level", int64(3)},
		{"remote", true}, {"hired", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		f, _ := s.Field(tc.field)
		got, err := ParseText(f.Type, FormatText(tc.v))
		if err != nil || !reflect.DeepEqual(got, tc.v) {
			t.Errorf("%s: %q parsed back as %#v, %v", tc.field, FormatText(tc.v), got, err)
		}
	}
}
