package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

const profileFieldsYAML = `profile_fields:
  - name: department
    type: string
    required: true
    allowed: [sales, ops]
  - name: employee_number
    type: integer
  - name: tags
    type: string_list
  - name: remote
    type: boolean
    default: false
  - name: hired
    type: timestamp
`

// withProfileFields declares profile fields in the test config.
func withProfileFields(t *testing.T, e *testEnv) {
	e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+profileFieldsYAML)
}

func TestProfileFieldsCLI(t *testing.T) {
	superuser := []string{"GATEWAY_SUPERUSER_PASSWORD=" + pwSuper}
	wantProfile := func(username string, want profile.Values) func(t *testing.T, e *testEnv, _ result) {
		return func(t *testing.T, e *testEnv, _ result) {
			t.Helper()
			if got := e.user(t, username).Profile; !reflect.DeepEqual(got, want) {
				t.Errorf("%s's profile = %#v, want %#v", username, got, want)
			}
		}
	}
	withAlice := func(t *testing.T, e *testEnv) {
		withProfileFields(t, e)
		e.mustCreateUser(t, "alice", pwOld, func(u *authn.User) {
			u.Profile = profile.Values{"department": "sales", "old_field": "kept"}
		})
	}
	runCases(t, []cliCase{
		{
			name:  "createsuperuser --field",
			setup: withProfileFields,
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin", "--noinput",
				"--field", "department=ops", "--field", "employee_number=42", "--field", "tags=a, b", "--field", "hired=2020-01-02T03:04:05+01:00"}, env: superuser},
			wantCode:   exitOK,
			wantStdout: []string{"Superuser created successfully."},
			check: wantProfile("admin", profile.Values{"department": "ops", "employee_number": int64(42), "tags": []string{"a", "b"},
				"hired": "2020-01-02T02:04:05Z"}),
		},
		{
			name:       "createsuperuser --noinput without a required field",
			setup:      withProfileFields,
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin", "--noinput"}, env: superuser},
			wantCode:   exitError,
			wantStderr: []string{"required profile field missing: department (give --field department=VALUE)"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "admin") },
		},
		{
			name:  "createsuperuser prompts for required fields on a terminal",
			setup: withProfileFields,
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"},
				terminal: true, stdin: "\nhr\nsales\n", termInput: []string{pwSuper, pwSuper}},
			wantCode:   exitOK,
			wantStderr: []string{"Department (string): ", "Error: This field cannot be blank.", `Error: invalid profile value: department: must be one of "sales", "ops", got "hr"`},
			check:      wantProfile("admin", profile.Values{"department": "sales"}),
		},
		{
			name:  "user create with invalid values reports every problem",
			setup: withProfileFields,
			invocation: invocation{args: []string{"user", "create", "bob", "--unusable-password",
				"--field", "department=hr", "--field", "employee_number=x", "--field", "salary=1", "--field", "nonsense"}},
			wantCode: exitError,
			wantStderr: []string{
				`department: must be one of "sales", "ops", got "hr"`, `employee_number: must be an integer, got "x"`,
				`unknown profile field: "salary" (declared: department, employee_number, tags, remote, hired)`, `"nonsense": expected name=value`,
			},
			check: func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "bob") },
		},
		{
			name:       "user create --field",
			setup:      withProfileFields,
			invocation: invoke("user", "create", "bob", "--unusable-password", "--field", "department=sales", "--field", "remote=true"),
			wantCode:   exitOK,
			check:      wantProfile("bob", profile.Values{"department": "sales", "remote": true}),
		},
		{
			name:       "set-field validates and keeps other values",
			setup:      withAlice,
			invocation: invoke("user", "set-field", "alice", "department=ops", "tags=x,y"),
			wantCode:   exitOK,
			wantStdout: []string{"Field 'department' of user 'alice' set to ops.", "Field 'tags' of user 'alice' set to x,y."},
			check:      wantProfile("alice", profile.Values{"department": "ops", "tags": []string{"x", "y"}, "old_field": "kept"}),
		},
		{
			name:       "set-field refuses a bad value and writes nothing",
			setup:      withAlice,
			invocation: invoke("user", "set-field", "alice", "tags=x", "department=hr"),
			wantCode:   exitError,
			wantStderr: []string{`department: must be one of "sales", "ops", got "hr"`},
			check:      wantProfile("alice", profile.Values{"department": "sales", "old_field": "kept"}),
		},
		{
			name:       "set-field of an unknown user",
			setup:      withProfileFields,
			invocation: invoke("user", "set-field", "nobody", "department=ops"),
			wantCode:   exitError,
			wantStderr: []string{`user "nobody"`, "user not found"},
		},
		{
			name:       "unset-field removes stored values, declared or not",
			setup:      withAlice,
			invocation: invoke("user", "unset-field", "alice", "old_field", "hired"),
			wantCode:   exitOK,
			check:      wantProfile("alice", profile.Values{"department": "sales"}),
		},
		{
			name:       "unset-field refuses a required field without default",
			setup:      withAlice,
			invocation: invoke("user", "unset-field", "alice", "department"),
			wantCode:   exitError,
			wantStderr: []string{"department is required and has no default"},
		},
	})
}

func TestProfileShow(t *testing.T) {
	e := newTestEnv(t)
	withProfileFields(t, e)
	e.mustCreateUser(t, "alice", pwOld, func(u *authn.User) {
		u.Profile = profile.Values{"department": "sales", "tags": []string{"a,b", "c"}, "old_field": "kept"}
	})
	e.mustCreateUser(t, "carol", pwOther, func(u *authn.User) { u.Profile = profile.Values{"department": "hr"} })
	e.mustCreateUser(t, "dave", pwOther, nil)
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"alice", []string{"profile.department: sales\n", "profile.employee_number: (not set)\n", `profile.tags: ["a,b","c"]` + "\n",
			"profile.remote: false (default)\n", "profile.old_field: kept (stored, not declared: unused)\n"}},
		{"carol", []string{`profile.department: (stored value ignored: department: must be one of "sales", "ops", got "hr")`}},
		{"dave", []string{"profile.department: (missing (required, no default))"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			r := e.run(t, invoke("user", "show", tc.user))
			var lines []string
			for _, l := range strings.Split(r.stdout, "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			out := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if r.code != exitOK || !strings.Contains(out+"\n", w) {
					t.Errorf("show does not contain %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestImportDjangoCustomUserModel(t *testing.T) {
	e := newTestEnv(t)
	e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+`profile_fields:
  - name: department
    type: string
  - name: staff_number
    type: integer
  - name: remote
    type: boolean
  - name: hired
    type: timestamp
`)
	r := e.run(t, invoke("import-django", "--user-model", "accounts.User", "--map", "employee_number=staff_number", "../djangoimport/testdata/custom_user.json"))
	if r.code != exitOK {
		t.Fatalf("import:\n%s", r)
	}
	if !strings.Contains(r.stderr, `warning: column "badge_color" of accounts.User is not imported: no profile field takes it (2 users with a value)`) {
		t.Errorf("unmapped column not reported:\n%s", r)
	}
	want := profile.Values{"department": "sales", "staff_number": int64(1001), "remote": true, "hired": "2019-03-01T09:00:00Z"}
	if got := e.user(t, "ana").Profile; !reflect.DeepEqual(got, want) {
		t.Errorf("ana's profile = %#v", got)
	}
	// Without --user-model the custom model's users are refused.
	r = e.run(t, invoke("import-django", "../djangoimport/testdata/custom_user.json"))
	if r.code == exitOK || !strings.Contains(r.stderr, `model "accounts.user" is not imported`) {
		t.Errorf("import without --user-model:\n%s", r)
	}
}

func TestPolicyEvalSeesProfile(t *testing.T) {
	setup := func(t *testing.T, e *testEnv) {
		withProfileFields(t, e)
		e.mustCreateUser(t, "alice", pwOld, func(u *authn.User) { u.Profile = profile.Values{"department": "sales"} })
		e.mustGrantUser(t, "alice", "reports.view_report")
	}
	runCases(t, []cliCase{
		{
			name: "own department", setup: setup,
			invocation: invoke("policy", "eval", "--user", "alice", "--path", "/reports/departments/sales/"),
			wantStdout: []string{"decision:  allow"},
		},
		{
			name: "other department", setup: setup,
			invocation: invoke("policy", "eval", "--user", "alice", "--path", "/reports/departments/ops/"),
			wantStdout: []string{`decision:  deny: route 4 (prefix /reports/): has reports.view_report; denied by profile rule: reports of department "ops" are for members of that department only`},
		},
	})
}
