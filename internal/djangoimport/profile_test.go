package djangoimport

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

// customSchema declares what the gateway knows of custom_user.json's
// accounts.User: its badge_color column is deliberately not declared.
func customSchema(t *testing.T) *profile.Schema {
	t.Helper()
	s, err := profile.NewSchema([]profile.Field{
		{Name: "department", Type: profile.String, Required: true, Allowed: []any{"sales", "ops"}},
		{Name: "staff_number", Type: profile.Integer},
		{Name: "remote", Type: profile.Boolean},
		{Name: "hired", Type: profile.Timestamp},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func customOptions(t *testing.T) Options {
	return Options{UserModel: "accounts.User", Profile: customSchema(t), Columns: map[string]string{"employee_number": "staff_number"}}
}

// custom_user.json was written by real Django 3.2 (gen_custom_user.py)
// for AUTH_USER_MODEL = "accounts.User", a subclass of AbstractUser.
func TestParseCustomUserModel(t *testing.T) {
	fx, err := ParseWith(readTestdata(t, "custom_user.json"), customOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]profile.Values{}
	for _, u := range fx.Users {
		got[u.User.Username] = u.User.Profile
	}
	want := map[string]profile.Values{
		"ana": {"department": "sales", "staff_number": int64(1001), "remote": true, "hired": time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC)},
		"ben": {"department": "ops", "remote": false}, // null columns: no value
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profiles %#v\nwant %#v", got, want)
	}
	if want := []UnmappedColumn{{Column: "badge_color", Users: 2}}; !reflect.DeepEqual(fx.Unmapped, want) {
		t.Errorf("unmapped %+v, want %+v", fx.Unmapped, want)
	}
	if len(fx.MissingRequired) != 0 {
		t.Errorf("missing required %v", fx.MissingRequired)
	}
	if len(fx.Groups) != 1 || !reflect.DeepEqual(fx.Users[0].Groups, []string{"analysts"}) {
		t.Errorf("groups %+v, ana's %v", fx.Groups, fx.Users[0].Groups)
	}
}

func TestParseCustomUserModelProblems(t *testing.T) {
	data := string(readTestdata(t, "custom_user.json"))
	tests := []struct {
		name    string
		data    string
		opts    Options
		wantErr string
	}{
		{"the default user model refuses the custom one", data, Options{},
			`model "accounts.user" is not imported: the file must hold only ` + "`manage.py dumpdata auth contenttypes `"},
		{"a value against the schema", strings.Replace(data, `"department": "ops"`, `"department": "hr"`, 1), customOptions(t),
			`object 23 (accounts.user "ben"): field "department": invalid profile value: department: must be one of "sales", "ops", got "hr"`},
		{"a value of the wrong type", strings.Replace(data, `"employee_number": 1001`, `"employee_number": "1001"`, 1), customOptions(t),
			`field "employee_number": profile field staff_number: want an integer, got "1001"`},
		{"auth.user in a custom model's dump", strings.Replace(data, `"model": "accounts.user"`, `"model": "auth.user"`, 1), customOptions(t),
			`model "auth.user" is not the user model "accounts.user" (--user-model)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWith([]byte(tc.data), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.wantErr)
			}
		})
	}
	for name, o := range map[string]Options{
		"mapped to an undeclared field": {UserModel: "accounts.user", Profile: customSchema(t), Columns: map[string]string{"x": "nope"}},
		"mapping a built-in column":     {UserModel: "accounts.user", Profile: customSchema(t), Columns: map[string]string{"email": "department"}},
		"mapping without a custom user": {Profile: customSchema(t), Columns: map[string]string{"x": "department"}},
		"a malformed user model":        {UserModel: "accounts"},
	} {
		if _, err := ParseWith([]byte(data), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestImportCustomUserModel(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	fx, err := ParseWith(readTestdata(t, "custom_user.json"), customOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, e, fx)
	ana, err := e.store.GetUserByUsername(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	want := profile.Values{"department": "sales", "staff_number": int64(1001), "remote": true, "hired": "2019-03-01T09:00:00Z"}
	if !reflect.DeepEqual(ana.Profile, want) {
		t.Errorf("stored %#v\nwant %#v", ana.Profile, want)
	}
	// Importing the same fixture again changes nothing; a changed column
	// shows as a profile change and replaces the stored value.
	if ch := mustImport(t, e, fx); len(ch.UsersUpdated) != 0 {
		t.Errorf("re-import changed %+v", ch.UsersUpdated)
	}
	data := strings.Replace(string(readTestdata(t, "custom_user.json")), `"department": "sales"`, `"department": "ops"`, 1)
	fx2, err := ParseWith([]byte(data), customOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := mustImport(t, e, fx2)
	var out strings.Builder
	ch.Write(&out, false)
	if len(ch.UsersUpdated) != 1 || !strings.Contains(out.String(), `profile.department "sales" -> "ops"`) {
		t.Errorf("changes:\n%s", out.String())
	}
}
