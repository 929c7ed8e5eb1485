package djangoimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
)

// Both dump formats of one database are one Fixture.
func TestParseBothFormatsAgree(t *testing.T) {
	plain := mustParse(t, readTestdata(t, "auth.json"))
	natural := mustParse(t, readTestdata(t, "auth_natural.json"))
	if !reflect.DeepEqual(plain, natural) {
		t.Fatalf("the two formats differ:\nplain   %+v\nnatural %+v", plain, natural)
	}
	if len(plain.Models) != 7 || plain.Permissions() != 29 || len(plain.Groups) != 4 || len(plain.Users) != 8 {
		t.Errorf("%d models, %d permissions, %d groups, %d users; want 7, 29, 4, 8",
			len(plain.Models), plain.Permissions(), len(plain.Groups), len(plain.Users))
	}
}

// What Parse resolves is what Django has (expected.json), and the hashes
// are the dump's, verbatim.
func TestParseMatchesDjango(t *testing.T) {
	exp := readExpected(t)
	for _, name := range fixtureFiles {
		t.Run(name, func(t *testing.T) {
			data := readTestdata(t, name)
			fx := mustParse(t, data)
			var perms []string
			for _, m := range fx.Models {
				perms = append(perms, m.PermissionNames()...)
			}
			slices.Sort(perms)
			if !slices.Equal(perms, exp.Permissions) {
				t.Errorf("permissions %q\nwant %q", perms, exp.Permissions)
			}
			if got := fx.Set().Permissions(); !slices.Equal(got, exp.Permissions) {
				t.Errorf("ImportSet.Permissions() = %q", got)
			}
			groups := map[string][]string{}
			for _, g := range fx.Groups {
				groups[g.Name] = g.Permissions
			}
			if len(groups) != len(exp.Groups) {
				t.Errorf("groups %q, want %d", groups, len(exp.Groups))
			}
			for g, want := range exp.Groups {
				if !equalStrings(groups[g], want) {
					t.Errorf("group %q permissions %q, want %q", g, groups[g], want)
				}
			}
			var raw []struct {
				Model  string
				Fields struct{ Username, Password string }
			}
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			hashes := map[string]string{}
			for _, o := range raw {
				if o.Model == "auth.user" {
					hashes[o.Fields.Username] = o.Fields.Password
				}
			}
			for _, iu := range fx.Users {
				u := iu.User
				want, ok := exp.Users[u.Username]
				if !ok {
					t.Errorf("unexpected user %q", u.Username)
					continue
				}
				if u.IsActive != want.IsActive || u.IsStaff != want.IsStaff || u.IsSuperuser != want.IsSuperuser ||
					u.Email != want.Email || u.FirstName != want.FirstName || u.LastName != want.LastName {
					t.Errorf("user %q = %+v, want %+v", u.Username, u, want)
				}
				if u.Password != hashes[u.Username] || u.Password == "" {
					t.Errorf("user %q: password hash not kept verbatim", u.Username)
				}
				if (want.Password == nil) == authn.IsUsable(u.Password) {
					t.Errorf("user %q: usable password = %v, want %v", u.Username, authn.IsUsable(u.Password), want.Password != nil)
				}
				if !equalStrings(iu.Groups, want.Groups) || !equalStrings(iu.Permissions, want.DirectPermissions) {
					t.Errorf("user %q: groups %q, permissions %q; want %q, %q", u.Username, iu.Groups, iu.Permissions, want.Groups, want.DirectPermissions)
				}
				if u.ID != 0 {
					t.Errorf("user %q has id %d: Django pks must not become ids", u.Username, u.ID)
				}
			}
			alice := fx.Users[0].User
			if alice.Username != "alice" || !alice.DateJoined.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) ||
				!alice.LastLogin.Equal(time.Date(2024, 1, 15, 9, 30, 0, 123_000_000, time.UTC)) {
				t.Errorf("alice's dates: joined %v, last login %v", alice.DateJoined, alice.LastLogin)
			}
			for _, iu := range fx.Users {
				if iu.User.Username == "carol" && !iu.User.LastLogin.IsZero() {
					t.Errorf("carol's null last_login became %v", iu.User.LastLogin)
				}
			}
		})
	}
}

// mutate edits one of the fixtures as generic JSON. Numbers stay as
// written.
func mutate(name string, edit func(objs []any) []any) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(readTestdata(t, name)))
		dec.UseNumber()
		var objs []any
		if err := dec.Decode(&objs); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(edit(objs))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func text(s string) func(t *testing.T) []byte {
	return func(*testing.T) []byte { return []byte(s) }
}

// fields returns object i's fields.
func fields(objs []any, i int) map[string]any {
	return objs[i].(map[string]any)["fields"].(map[string]any)
}

// setField sets one field of object i and returns objs.
func setField(objs []any, i int, field string, v any) []any {
	fields(objs, i)[field] = v
	return objs
}

// In auth.json: permissions 0-28, groups 29-32 (editors, shop_staff,
// nobody, Équipe support), users 33-40 (alice, bob, carol, root, dave,
// erin, frank, zoë), content types 41-47. In auth_natural.json: content
// types 0-6, permissions 7-35, groups 36-39, users 40-47.
func TestParseMalformed(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// A store with something in it, which no failed import may touch.
	if err := e.store.DeclareModels(ctx, authn.BuiltinModels()...); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(ctx, &authn.User{Username: "alice", IsActive: true, Password: "!"}, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		data  func(t *testing.T) []byte
		want  []string // substrings of the error, in order of the problems
		count int      // number of problems (0: do not check)
	}{
		{
			name:  "is_active not a boolean",
			data:  mutate("auth.json", func(o []any) []any { return setField(o, 33, "is_active", "yes") }),
			want:  []string{`object 33 (auth.user "alice"): field "is_active": want true or false, got "yes"`},
			count: 1,
		},
		{
			name: "every problem is reported",
			data: mutate("auth.json", func(o []any) []any {
				setField(o, 20, "content_type", 99)
				setField(o, 29, "permissions", []any{21, 999})
				setField(o, 33, "is_active", "yes")
				return setField(o, 40, "username", "bad name!")
			}),
			want: []string{
				`4 problems`,
				`object 20 (auth.permission "can_publish"): field "content_type": no contenttypes.contenttype with pk 99 in the fixture`,
				`object 29 (auth.group "editors"): field "permissions": item 1: no auth.permission with pk 999 in the fixture`,
				`object 33 (auth.user "alice"): field "is_active"`,
				`object 40 (auth.user "bad name!"): field "username": invalid username`,
			},
			count: 4,
		},
		{
			name: "unknown content type natural key",
			data: mutate("auth_natural.json", func(o []any) []any {
				return setField(o, 7, "content_type", []any{"auth", "permissions"})
			}),
			want: []string{`object 7 (auth.permission "add_permission"): field "content_type": no contenttypes.contenttype ["auth", "permissions"] in the fixture`},
		},
		{
			name: "unknown group natural key",
			data: mutate("auth_natural.json", func(o []any) []any {
				return setField(o, 40, "groups", []any{[]any{"editorz"}})
			}),
			want:  []string{`object 40 (auth.user "alice"): field "groups": item 0: no auth.group ["editorz"] in the fixture`},
			count: 1,
		},
		{
			name:  "unknown group pk",
			data:  mutate("auth.json", func(o []any) []any { return setField(o, 34, "groups", []any{1, 9}) }),
			want:  []string{`object 34 (auth.user "bob"): field "groups": item 1: no auth.group with pk 9 in the fixture`},
			count: 1,
		},
		{
			name: "unknown permission natural key in a group",
			data: mutate("auth_natural.json", func(o []any) []any {
				f := fields(o, 36)
				f["permissions"] = append(f["permissions"].([]any), []any{"fly", "blog", "post"})
				return o
			}),
			want: []string{`object 36 (auth.group "editors"): field "permissions": item 3: no auth.permission ["fly", "blog", "post"] in the fixture`},
		},
		{
			name: "unknown permission pk of a user",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 33, "user_permissions", []any{999}) }),
			want: []string{`object 33 (auth.user "alice"): field "user_permissions": item 0: no auth.permission with pk 999 in the fixture`},
		},
		{
			name:  "duplicate username",
			data:  mutate("auth.json", func(o []any) []any { return setField(o, 34, "username", "alice") }),
			want:  []string{`object 34 (auth.user "alice"): field "username": "alice" is also the username of object 33`},
			count: 1,
		},
		{
			name: "duplicate username in natural keys",
			data: mutate("auth_natural.json", func(o []any) []any { return setField(o, 47, "username", "bob") }),
			want: []string{`object 47 (auth.user "bob"): field "username": "bob" is also the username of object 41`},
		},
		{
			name: "codename the store refuses",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 20, "codename", "can-publish") }),
			want: []string{`object 20 (auth.permission "can-publish"): field "codename": invalid permission name "blog.can-publish"`},
		},
		{
			name: "invalid username",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 33, "username", "alice smith") }),
			want: []string{`object 33 (auth.user "alice smith"): field "username": invalid username: character ' '`},
		},
		{
			name: "username not in NFKC form",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 33, "username", "\ufb01nn") }),
			want: []string{`object 33 (auth.user "ﬁnn"): field "username": not in Unicode NFKC form`, `"finn"`},
		},
		{
			name: "admin log entry",
			data: mutate("auth.json", func(o []any) []any {
				return append(o, map[string]any{"model": "admin.logentry", "pk": 1, "fields": map[string]any{"action_flag": 1}})
			}),
			want:  []string{`object 48 (admin.logentry): model "admin.logentry" is not imported`, "dumpdata auth contenttypes"},
			count: 1,
		},
		{
			name: "session first",
			data: mutate("auth_natural.json", func(o []any) []any {
				return append([]any{map[string]any{"model": "sessions.session", "pk": "abc", "fields": map[string]any{}}}, o...)
			}),
			want: []string{`object 0 (sessions.session): model "sessions.session" is not imported`},
		},
		{
			name: "not JSON",
			data: text("[\n{\"model\": \"auth.user\",\n  \"pk\": 1,,\n"),
			want: []string{"not valid JSON at line 3, column 11"},
		},
		{
			name: "truncated",
			data: func(t *testing.T) []byte { return readTestdata(t, "auth.json")[:500] },
			want: []string{"not valid JSON at line", "unexpected end of JSON input"},
		},
		{
			name: "an object instead of the array",
			data: text(`{"model": "auth.user", "fields": {}}`),
			want: []string{`want the JSON array of objects`, `got {"model":"auth.user","fields":{}}`},
		},
		{name: "empty file", data: text(" \n"), want: []string{"empty file"}},
		{name: "null", data: text("null"), want: []string{"got null"}},
		{
			name: "invalid UTF-8",
			data: func(t *testing.T) []byte {
				return bytes.Replace(readTestdata(t, "auth.json"), []byte("Liddell"), []byte("Lid\xffdell"), 1)
			},
			want: []string{"not valid UTF-8 at line"},
		},
		{
			name: "last_login not a date",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 33, "last_login", "yesterday") }),
			want: []string{`object 33 (auth.user "alice"): field "last_login": want a date and time such as "2024-01-15T09:30:00.123Z" or null, got "yesterday"`},
		},
		{
			name: "date_joined null",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 35, "date_joined", nil) }),
			want: []string{`object 35 (auth.user "carol"): field "date_joined": want a date and time such as "2024-01-15T09:30:00.123Z", got null`},
		},
		{
			name: "missing username",
			data: mutate("auth.json", func(o []any) []any { delete(fields(o, 36), "username"); return o }),
			want: []string{`object 36 (auth.user pk 4): field "username": missing`},
		},
		{
			name: "password not a string",
			data: mutate("auth.json", func(o []any) []any {
				f := fields(o, 33)
				f["password"] = map[string]any{"hash": f["password"]}
				return o
			}),
			want: []string{`object 33 (auth.user "alice"): field "password": want a string, got an object`},
		},
		{
			name: "unknown field",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 33, "is_admin", true) }),
			want: []string{`object 33 (auth.user "alice"): field "is_admin": unknown field; auth.user has password, last_login`},
		},
		{
			name: "unknown key",
			data: mutate("auth.json", func(o []any) []any { o[41].(map[string]any)["extra"] = 1; return o }),
			want: []string{`object 41 (contenttypes.contenttype "auth.permission"): unknown key "extra"`},
		},
		{
			name: "duplicate pk",
			data: mutate("auth.json", func(o []any) []any { o[30].(map[string]any)["pk"] = 1; return o }),
			want: []string{`object 30 (auth.group "shop_staff"): pk 1 is also the pk of object 29`},
		},
		{
			name: "pk not an integer",
			data: mutate("auth.json", func(o []any) []any { o[33].(map[string]any)["pk"] = "1"; return o }),
			want: []string{`object 33 (auth.user "alice"): "pk": want an integer, got "1"`},
		},
		{
			name: "duplicate content type",
			data: mutate("auth_natural.json", func(o []any) []any { return append(o, o[4]) }),
			want: []string{`object 48 (contenttypes.contenttype "blog.post"): field "model": content type blog.post is also object 4`},
		},
		{
			name: "duplicate permission",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 17, "codename", "add_post") }),
			want: []string{`object 17 (auth.permission "add_post"): field "codename": "add_post" is also the codename of object 16, for the same content type blog.post`},
		},
		{
			name: "invalid app label",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 45, "app_label", "Blog") }),
			want: []string{`object 45 (contenttypes.contenttype "Blog.post"): field "app_label"`},
		},
		{
			name: "group name with a colon",
			data: mutate("auth.json", func(o []any) []any { return setField(o, 29, "name", "edit:ors") }),
			want: []string{`object 29 (auth.group "edit:ors"): field "name": invalid group name: character ':'`},
		},
		{
			name: "natural key of the wrong length",
			data: mutate("auth_natural.json", func(o []any) []any {
				return setField(o, 40, "user_permissions", []any{[]any{"add_comment", "blog"}})
			}),
			want: []string{`object 40 (auth.user "alice"): field "user_permissions": item 0: want a pk (integer) or a natural key ["codename", "app_label", "model"], got ["add_comment","blog"]`},
		},
		{
			name: "item not an object",
			data: mutate("auth.json", func(o []any) []any { o[5] = 42; return o }),
			want: []string{`object 5: want an object with "model", "pk" and "fields", got 42`},
		},
		{
			name: "permission without content type",
			data: mutate("auth.json", func(o []any) []any { delete(fields(o, 0), "content_type"); return o }),
			want: []string{`object 0 (auth.permission "add_permission"): field "content_type": missing`},
		},
	}
	before := e.snapshot(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			_, err := load(ctx, e.store, data, false)
			if err == nil {
				t.Fatal("the fixture was accepted")
			}
			var fe *Error
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidFixture) {
				t.Fatalf("err = %v (%T), want an *Error wrapping ErrInvalidFixture", err, err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Errorf("error does not contain %q (after byte %d):\n%s", w, at, msg)
					continue
				}
				at += i + len(w)
			}
			if tc.count > 0 && len(fe.Problems) != tc.count {
				t.Errorf("%d problems, want %d:\n%s", len(fe.Problems), tc.count, msg)
			}
			for _, h := range []string{"pbkdf2_sha256$", "pbkdf2_sha1$", "argon2$", "bcrypt_sha256$", "!Unusable"} {
				if strings.Contains(msg, h) {
					t.Errorf("the error shows a password hash (%s…):\n%s", h, msg)
				}
			}
			assertSnapshot(t, "store after a refused fixture", e.snapshot(t), before)
		})
	}
}

// Optional fields take Django's model defaults; naive datetimes
// (USE_TZ = False) are UTC; model names are not case-sensitive, as in
// Django's loaddata.
func TestParseDefaults(t *testing.T) {
	fx := mustParse(t, []byte(`[
{"model": "auth.User", "fields": {"username": "min", "password": "", "date_joined": "2021-03-04 05:06:07.5"}},
{"model": "auth.group", "fields": {"name": "g"}}
]`))
	u := fx.Users[0]
	want := authn.User{Username: "min", IsActive: true, DateJoined: time.Date(2021, 3, 4, 5, 6, 7, 500_000_000, time.UTC)}
	if !reflect.DeepEqual(u.User, want) || len(u.Groups) != 0 || len(u.Permissions) != 0 {
		t.Errorf("user %+v, want %+v", u, want)
	}
	if len(fx.Groups) != 1 || fx.Groups[0].Name != "g" || len(fx.Models) != 0 {
		t.Errorf("fixture %+v", fx)
	}
	fx = mustParse(t, []byte(`[{"model": "auth.user", "pk": 3, "fields": {"username": "tz", "password": "!",
		"date_joined": "2021-03-04T07:06:07+02:00", "last_login": null}}]`))
	if got := fx.Users[0].User.DateJoined; !got.Equal(time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("date_joined %v, want 05:06:07 UTC", got)
	}
	if fx := mustParse(t, []byte(" [ ] ")); len(fx.Users)+len(fx.Groups)+len(fx.Models) != 0 {
		t.Errorf("empty dump: %+v", fx)
	}
}

// naturalDump writes fx back as `dumpdata --natural-foreign
// --natural-primary` would.
func naturalDump(fx *Fixture) []byte {
	objs := []any{}
	modelOf := map[string]authn.Model{} // "app.codename" -> first model declaring it
	for _, m := range fx.Models {
		objs = append(objs, map[string]any{"model": "contenttypes.contenttype", "fields": map[string]any{"app_label": m.AppLabel, "model": m.Name}})
		for _, p := range m.Permissions {
			objs = append(objs, map[string]any{"model": "auth.permission", "fields": map[string]any{
				"name": p.Name, "codename": p.Codename, "content_type": []string{m.AppLabel, m.Name}}})
			if _, ok := modelOf[m.AppLabel+"."+p.Codename]; !ok {
				modelOf[m.AppLabel+"."+p.Codename] = m
			}
		}
	}
	permKeys := func(perms []string) [][]string {
		out := [][]string{}
		for _, p := range perms {
			m := modelOf[p]
			_, codename, _ := strings.Cut(p, ".")
			out = append(out, []string{codename, m.AppLabel, m.Name})
		}
		return out
	}
	for _, g := range fx.Groups {
		objs = append(objs, map[string]any{"model": "auth.group", "fields": map[string]any{"name": g.Name, "permissions": permKeys(g.Permissions)}})
	}
	for _, iu := range fx.Users {
		u := iu.User
		var lastLogin any
		if !u.LastLogin.IsZero() {
			lastLogin = u.LastLogin.Format(time.RFC3339Nano)
		}
		groups := [][]string{}
		for _, g := range iu.Groups {
			groups = append(groups, []string{g})
		}
		objs = append(objs, map[string]any{"model": "auth.user", "fields": map[string]any{
			"username": u.Username, "password": u.Password, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
			"is_active": u.IsActive, "is_staff": u.IsStaff, "is_superuser": u.IsSuperuser,
			"date_joined": u.DateJoined.Format(time.RFC3339Nano), "last_login": lastLogin,
			"groups": groups, "user_permissions": permKeys(iu.Permissions)}})
	}
	out, err := json.Marshal(objs)
	if err != nil {
		panic(err)
	}
	return out
}

func TestNaturalDumpRoundTrip(t *testing.T) {
	for _, name := range fixtureFiles {
		fx := mustParse(t, readTestdata(t, name))
		if again := mustParse(t, naturalDump(fx)); !reflect.DeepEqual(again, fx) {
			t.Errorf("%s: round trip differs", name)
		}
	}
}

// FuzzParse: Parse never panics; a refused input gets a well-formed
// report; an accepted one is valid by the store's rules, deterministic,
// and survives a round trip through a natural-key dump.
func FuzzParse(f *testing.F) {
	for _, name := range fixtureFiles {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"model": "auth.user", "fields": {"username": "a", "password": "!", "date_joined": "2020-01-01T00:00:00Z", "groups": [["g"]]}},
{"model": "auth.group", "pk": 1, "fields": {"name": "g", "permissions": [1, ["x", "a", "b"]]}}]`))
	f.Add([]byte(`[{"model": "contenttypes.contenttype", "pk": 1, "fields": {"app_label": "a", "model": "b"}},
{"model": "auth.permission", "pk": 1, "fields": {"name": "n", "codename": "x", "content_type": 1}}]`))
	f.Add([]byte(`[{"model": "admin.logentry"}, 1, null, {"model": "auth.user", "pk": "x", "fields": []}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fx, err := Parse(data)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("err = %v (%T), want an *Error with problems", err, err)
			}
			for _, p := range fe.Problems {
				if p.Index < -1 || p.Message == "" {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			_ = err.Error()
			return
		}
		set := fx.Set()
		for _, m := range fx.Models {
			if _, err := authn.NewModel(authn.ModelSpec{Label: m.Label(), DefaultPermissions: []string{}}); err != nil {
				t.Fatalf("accepted model %q: %v", m.Label(), err)
			}
		}
		for _, g := range fx.Groups {
			if err := authn.ValidateGroupName(g.Name); err != nil {
				t.Fatalf("accepted group %q: %v", g.Name, err)
			}
		}
		known := set.Permissions()
		for _, p := range known {
			if err := authn.ValidatePermission(p); err != nil {
				t.Fatalf("accepted permission: %v", err)
			}
		}
		for _, iu := range fx.Users {
			if err := authn.ValidateUsername(iu.User.Username); err != nil || authn.NormalizeUsername(iu.User.Username) != iu.User.Username {
				t.Fatalf("accepted username %q: %v", iu.User.Username, err)
			}
			for _, p := range iu.Permissions {
				if _, ok := slices.BinarySearch(known, p); !ok {
					t.Fatalf("user %q has undeclared permission %q", iu.User.Username, p)
				}
			}
		}
		again, err := Parse(data)
		if err != nil || !reflect.DeepEqual(again, fx) {
			t.Fatalf("Parse is not deterministic: %v", err)
		}
		back, err := Parse(naturalDump(fx))
		if err != nil {
			t.Fatalf("the natural-key dump of an accepted fixture is refused: %v", err)
		}
		if !reflect.DeepEqual(back, fx) {
			t.Fatalf("round trip differs:\n%+v\n%+v", back, fx)
		}
	})
}
