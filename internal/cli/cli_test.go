package cli

import (
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func withAlice(t *testing.T, e *testEnv) { e.mustCreateUser(t, "alice", pwOld, nil) }

func TestCreateSuperuser(t *testing.T) {
	superuserEnv := []string{"GATEWAY_SUPERUSER_PASSWORD=" + pwSuper}
	runCases(t, []cliCase{
		{
			name:            "noinput with GATEWAY_SUPERUSER_PASSWORD",
			invocation:      invocation{args: []string{"createsuperuser", "--username", "admin", "--email", "admin@example.com", "--noinput"}, env: superuserEnv},
			wantCode:        exitOK,
			wantStdout:      []string{"Superuser created successfully.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "admin", true, true, true)
				if got := e.user(t, "admin").Email; got != "admin@example.com" {
					t.Errorf("email = %q", got)
				}
				e.assertAuth(t, "admin", pwSuper, true)
				e.assertAuth(t, "admin", pwWrong, false)
			},
		},
		{
			name:       "noinput with GATEWAY_SUPERUSER_PASSWORD set but empty",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin", "--noinput"}, env: []string{"GATEWAY_SUPERUSER_PASSWORD="}},
			wantCode:   exitError,
			wantStderr: []string{"gateway createsuperuser: GATEWAY_SUPERUSER_PASSWORD is empty", "blank passwords aren't allowed"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "admin") },
		},
		{
			name:       "noinput without GATEWAY_SUPERUSER_PASSWORD gives an unusable password",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin", "--noinput"}},
			wantCode:   exitOK,
			wantStdout: []string{"Superuser created successfully."},
			wantStderr: []string{"GATEWAY_SUPERUSER_PASSWORD is not set", "unusable password", "gateway changepassword"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "admin", true, true, true)
				u := e.user(t, "admin")
				if authn.IsUsable(u.Password) {
					t.Errorf("password %q is usable", u.Password)
				}
				e.assertAuth(t, "admin", "", false)
				e.assertAuth(t, "admin", "!", false)
				e.assertAuth(t, "admin", u.Password, false)
			},
		},
		{
			name:            "interactive matching passwords",
			invocation:      invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{pwSuper, pwSuper}},
			wantCode:        exitOK,
			wantStdout:      []string{"Superuser created successfully."},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				assertStrings(t, "prompts", r.prompts, "Password: ", "Password (again): ")
				e.assertFlags(t, "admin", true, true, true)
				e.assertAuth(t, "admin", pwSuper, true)
			},
		},
		{
			name:       "interactive mismatch then match",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{pwWrong, pwOther, pwSuper, pwSuper}},
			wantCode:   exitOK,
			wantStdout: []string{"Superuser created successfully."},
			wantStderr: []string{"Error: Your passwords didn't match.\n"},
			check: func(t *testing.T, e *testEnv, r result) {
				if n := len(r.prompts); n != 4 {
					t.Errorf("%d prompts, want 4: %q", n, r.prompts)
				}
				e.assertAuth(t, "admin", pwSuper, true)
				e.assertAuth(t, "admin", pwWrong, false)
				e.assertAuth(t, "admin", pwOther, false)
			},
		},
		{
			name:       "interactive blank then good",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{"", "", pwSuper, pwSuper}},
			wantCode:   exitOK,
			wantStdout: []string{"Superuser created successfully."},
			wantStderr: []string{"Error: Blank passwords aren't allowed.\n"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertAuth(t, "admin", pwSuper, true) },
		},
		{
			name:       "interactive whitespace-only password is blank",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{"   ", "   ", pwSuper, pwSuper}},
			wantCode:   exitOK,
			wantStderr: []string{"Error: Blank passwords aren't allowed."},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertAuth(t, "admin", pwSuper, true) },
		},
		{
			name: "interactive three failures",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true,
				termInput: []string{pwWrong, pwOther, "", "", pwSuper, pwOther, pwSuper, pwSuper}},
			wantCode:        exitError,
			wantStderr:      []string{"Error: Your passwords didn't match.", "Error: Blank passwords aren't allowed.", "gateway createsuperuser: too many failed attempts"},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, r result) {
				if n := strings.Count(r.stderr, "Error: "); n != 3 {
					t.Errorf("%d errors reported, want 3\n%s", n, r)
				}
				if n := len(r.prompts); n != 6 {
					t.Errorf("%d prompts, want 6 (no fourth try)", n)
				}
				e.assertNoUser(t, "admin")
			},
		},
		{
			name:       "interactive terminal read error",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{pwSuper}},
			wantCode:   exitError,
			wantStderr: []string{"read password", "EOF"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "admin") },
		},
		{
			name:            "no terminal without --noinput",
			invocation:      invocation{args: []string{"createsuperuser", "--username", "admin"}, stdin: pwSuper + "\n"},
			wantCode:        exitError,
			wantStderr:      []string{"no terminal", "--noinput", "GATEWAY_SUPERUSER_PASSWORD"},
			wantEmptyStdout: true,
			check:           func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "admin") },
		},
		{
			name:            "duplicate username",
			setup:           withAlice,
			invocation:      invocation{args: []string{"createsuperuser", "--username", "alice", "--noinput"}, env: superuserEnv},
			wantCode:        exitError,
			wantStderr:      []string{`"alice"`, "already exists"},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "alice", true, false, false)
				e.assertAuth(t, "alice", pwOld, true)
				e.assertAuth(t, "alice", pwSuper, false)
			},
		},
		{
			name:       "duplicate username is refused before asking for the password",
			setup:      withAlice,
			invocation: invocation{args: []string{"createsuperuser", "--username", "alice"}, terminal: true, termInput: []string{pwSuper, pwSuper}},
			wantCode:   exitError,
			wantStderr: []string{"already exists"},
			check: func(t *testing.T, e *testEnv, r result) {
				if len(r.prompts) != 0 {
					t.Errorf("prompted %q for an existing user", r.prompts)
				}
			},
		},
		{
			name:       "duplicate after NFKC normalization is refused before asking",
			setup:      func(t *testing.T, e *testEnv) { e.mustCreateUser(t, "finn", pwOld, nil) },
			invocation: invocation{args: []string{"createsuperuser", "--username", "\ufb01nn"}, terminal: true, termInput: []string{pwSuper, pwSuper}},
			wantCode:   exitError,
			wantStderr: []string{`"finn"`, "already exists"},
			check: func(t *testing.T, e *testEnv, r result) {
				if len(r.prompts) != 0 {
					t.Errorf("prompted %q for an existing user", r.prompts)
				}
				assertStrings(t, "users", e.usernames(t), "finn")
			},
		},
		{
			name:       "username is NFKC-normalized",
			invocation: invocation{args: []string{"createsuperuser", "--username", "\ufb01nn", "--noinput"}, env: superuserEnv},
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "users", e.usernames(t), "finn")
				e.assertAuth(t, "\ufb01nn", pwSuper, true)
			},
		},
		{
			name:            "invalid username",
			invocation:      invocation{args: []string{"createsuperuser", "--username", "bad name!", "--noinput"}, env: superuserEnv},
			wantCode:        exitError,
			wantStderr:      []string{"invalid username", "' '"},
			wantEmptyStdout: true,
			check:           func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "users", e.usernames(t)) },
		},
		{
			name:       "missing --username",
			invocation: invocation{args: []string{"createsuperuser", "--noinput"}, env: superuserEnv},
			wantCode:   exitUsage,
			wantStderr: []string{"--username is required", "usage: gateway createsuperuser --username U"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "users", e.usernames(t)) },
		},
		{
			name:       "unknown flag",
			invocation: invocation{args: []string{"createsuperuser", "--username", "admin", "--no-input"}, env: superuserEnv},
			wantCode:   exitUsage,
			wantStderr: []string{"no-input", "usage: gateway createsuperuser"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "admin") },
		},
		{
			name:       "positional argument",
			invocation: invocation{args: []string{"createsuperuser", "admin", "--noinput"}, env: superuserEnv},
			wantCode:   exitUsage,
			wantStderr: []string{"expected no arguments", "admin"},
		},
		{
			name:            "--help prints usage",
			invocation:      invocation{args: []string{"createsuperuser", "--help"}},
			wantCode:        exitOK,
			wantStdout:      []string{"usage: gateway createsuperuser --username U"},
			wantEmptyStderr: true,
		},
	})
}

func TestChangePassword(t *testing.T) {
	unchanged := func(t *testing.T, e *testEnv, _ result) {
		e.assertAuth(t, "alice", pwOld, true)
		e.assertAuth(t, "alice", pwNew, false)
	}
	changed := func(t *testing.T, e *testEnv, _ result) {
		e.assertAuth(t, "alice", pwOld, false)
		e.assertAuth(t, "alice", pwNew, true)
	}
	runCases(t, []cliCase{
		{
			name:       "interactive",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice"}, terminal: true, termInput: []string{pwNew, pwNew}},
			wantCode:   exitOK,
			wantStdout: []string{"Password changed successfully for user 'alice'\n"},
			wantStderr: []string{"Changing password for user 'alice'\n"},
			check: func(t *testing.T, e *testEnv, r result) {
				assertStrings(t, "prompts", r.prompts, "Password: ", "Password (again): ")
				changed(t, e, r)
			},
		},
		{
			name:       "interactive mismatch then match",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice"}, terminal: true, termInput: []string{pwNew, pwOther, pwNew, pwNew}},
			wantCode:   exitOK,
			wantStderr: []string{"Error: Your passwords didn't match."},
			check: func(t *testing.T, e *testEnv, r result) {
				changed(t, e, r)
				e.assertAuth(t, "alice", pwOther, false)
			},
		},
		{
			name:       "interactive three failures leaves the password unchanged",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice"}, terminal: true, termInput: []string{pwNew, pwOther, pwNew, pwOther, "", ""}},
			wantCode:   exitError,
			wantStderr: []string{"too many failed attempts; password unchanged"},
			check:      unchanged,
		},
		{
			name:       "no terminal without --password-stdin",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice"}, stdin: pwNew + "\n"},
			wantCode:   exitError,
			wantStderr: []string{"no terminal", "--password-stdin"},
			check:      unchanged,
		},
		{
			name:            "--password-stdin",
			setup:           withAlice,
			invocation:      invocation{args: []string{"changepassword", "--password-stdin", "alice"}, stdin: pwNew + "\n"},
			wantCode:        exitOK,
			wantStdout:      []string{"Password changed successfully for user 'alice'"},
			wantEmptyStderr: true,
			check:           changed,
		},
		{
			name:       "validators reject a weak password from stdin, listing every rule",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: "1234567\n"},
			wantCode:   exitError,
			wantStderr: []string{
				"password rejected by the password validators:",
				"This password is too short. It must contain at least 8 characters.",
				"This password is too common.",
				"This password is entirely numeric.",
			},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name:       "validators: similar to the username",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: "alice123\n"},
			wantCode:   exitError,
			wantStderr: []string{"The password is too similar to the username."},
			check:      unchanged,
		},
		{
			name:       "interactive: a rejected password is a failed try, then a good one",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice"}, terminal: true, termInput: []string{"iloveyou", "iloveyou", pwNew, pwNew}},
			wantCode:   exitOK,
			wantStderr: []string{"This password is too common."},
			check:      changed,
		},
		{
			name:       "--password-stdin without final newline",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: pwNew},
			wantCode:   exitOK,
			check:      changed,
		},
		{
			name:       "--password-stdin with CRLF reads only the first line",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: pwNew + "\r\n" + pwOther + "\n"},
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, r result) {
				changed(t, e, r)
				e.assertAuth(t, "alice", pwNew+"\r", false)
			},
		},
		{
			name:            "--password-stdin empty line",
			setup:           withAlice,
			invocation:      invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: "\n"},
			wantCode:        exitError,
			wantStderr:      []string{"gateway changepassword: password must not be empty"},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name:       "--password-stdin empty input",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}},
			wantCode:   exitError,
			wantStderr: []string{"read password from stdin: EOF"},
			check:      unchanged,
		},
		{
			name:            "unknown user",
			setup:           withAlice,
			invocation:      invocation{args: []string{"changepassword", "ghost", "--password-stdin"}, stdin: pwNew + "\n"},
			wantCode:        exitError,
			wantStderr:      []string{`user "ghost"`, "user not found"},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name:       "unknown user is refused before asking for the password",
			invocation: invocation{args: []string{"changepassword", "ghost"}, terminal: true, termInput: []string{pwNew, pwNew}},
			wantCode:   exitError,
			wantStderr: []string{"user not found"},
			check: func(t *testing.T, e *testEnv, r result) {
				if len(r.prompts) != 0 {
					t.Errorf("prompted %q for an unknown user", r.prompts)
				}
			},
		},
		{
			name:       "missing username",
			invocation: invocation{args: []string{"changepassword", "--password-stdin"}, stdin: pwNew + "\n"},
			wantCode:   exitUsage,
			wantStderr: []string{"expected 1 argument(s), got 0", "usage: gateway changepassword USERNAME"},
		},
		{
			name:       "two usernames",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "bob", "--password-stdin"}, stdin: pwNew + "\n"},
			wantCode:   exitUsage,
			wantStderr: []string{"expected 1 argument(s), got 2: alice bob"},
			check:      unchanged,
		},
		{
			name:  "flags after the positional argument",
			setup: withAlice,
			invocation: invocation{
				args:  []string{"changepassword", "alice", "--config", "@CONFIG", "--password-stdin"},
				env:   []string{"GATEWAY_CONFIG=@DIR/does-not-exist.yaml"},
				stdin: pwNew + "\n",
			},
			wantCode:   exitOK,
			wantStdout: []string{"Password changed successfully for user 'alice'"},
			check:      changed,
		},
		{
			name:       "--config=FILE form",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "--config=@CONFIG", "alice", "--password-stdin"}, noDefaultConfig: true, stdin: pwNew + "\n"},
			wantCode:   exitOK,
			check:      changed,
		},
		{
			name:       "--config beats GATEWAY_CONFIG",
			setup:      withAlice,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin", "--config", "@DIR/missing.yaml"}, stdin: pwNew + "\n"},
			wantCode:   exitError,
			wantStderr: []string{"read configuration", "@DIR/missing.yaml", "no such file"},
			check:      unchanged,
		},
	})
}

func TestUser(t *testing.T) {
	runCases(t, []cliCase{
		// create
		{
			name: "create with --password-stdin and flags",
			invocation: invocation{
				args:  []string{"user", "create", "bob", "--email", "bob@example.com", "--first-name", "Bob", "--last-name", "Smith", "--staff", "--password-stdin"},
				stdin: pwNew + "\n",
			},
			wantCode:        exitOK,
			wantStdout:      []string{"User 'bob' created.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				u := e.user(t, "bob")
				if u.Email != "bob@example.com" || u.FirstName != "Bob" || u.LastName != "Smith" {
					t.Errorf("user = %+v", u)
				}
				e.assertFlags(t, "bob", true, true, false)
				e.assertAuth(t, "bob", pwNew, true)
			},
		},
		{
			name:       "create superuser inactive with unusable password",
			invocation: invocation{args: []string{"user", "create", "carol", "--superuser", "--inactive", "--unusable-password"}},
			wantCode:   exitOK,
			wantStdout: []string{"User 'carol' created."},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "carol", false, false, true)
				if authn.IsUsable(e.user(t, "carol").Password) {
					t.Error("password is usable")
				}
			},
		},
		{
			name:       "create interactive",
			invocation: invocation{args: []string{"user", "create", "dave"}, terminal: true, termInput: []string{pwNew, pwNew}},
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "dave", true, false, false)
				e.assertAuth(t, "dave", pwNew, true)
			},
		},
		{
			name:       "create without terminal or password flag",
			invocation: invocation{args: []string{"user", "create", "dave"}},
			wantCode:   exitError,
			wantStderr: []string{"no terminal", "--password-stdin"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "dave") },
		},
		{
			name:       "create with empty password on stdin",
			invocation: invocation{args: []string{"user", "create", "dave", "--password-stdin"}, stdin: "\n"},
			wantCode:   exitError,
			wantStderr: []string{"password must not be empty"},
			check:      func(t *testing.T, e *testEnv, _ result) { e.assertNoUser(t, "dave") },
		},
		{
			name:            "create duplicate",
			setup:           withAlice,
			invocation:      invocation{args: []string{"user", "create", "alice", "--password-stdin"}, stdin: pwNew + "\n"},
			wantCode:        exitError,
			wantStderr:      []string{`"alice"`, "already exists"},
			wantEmptyStdout: true,
			check:           func(t *testing.T, e *testEnv, _ result) { e.assertAuth(t, "alice", pwOld, true) },
		},
		{
			name:       "create invalid username",
			invocation: invocation{args: []string{"user", "create", "bad name!", "--unusable-password"}},
			wantCode:   exitError,
			wantStderr: []string{"invalid username"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "users", e.usernames(t)) },
		},
		{
			name:       "create normalizes the username (NFKC)",
			invocation: invocation{args: []string{"user", "create", "\ufb01nn", "--unusable-password"}},
			wantCode:   exitOK,
			wantStdout: []string{"User 'finn' created."},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "users", e.usernames(t), "finn") },
		},
		{
			name:       "create without username",
			invocation: invocation{args: []string{"user", "create", "--unusable-password"}},
			wantCode:   exitUsage,
			wantStderr: []string{"expected 1 argument(s), got 0", "usage: gateway user create USERNAME"},
		},
		// list
		{
			name: "list",
			setup: func(t *testing.T, e *testEnv) {
				e.mustCreateUser(t, "bob", pwOld, func(u *authn.User) { u.IsStaff = true })
				e.mustCreateUser(t, "alice", pwOld, func(u *authn.User) { u.IsActive = false })
			},
			invocation:      invoke("user", "list"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
				if len(lines) != 3 {
					t.Fatalf("want header and 2 rows\n%s", r)
				}
				for i, want := range [][]string{
					{"USERNAME", "EMAIL", "ACTIVE", "STAFF", "SUPERUSER", "LAST", "LOGIN"},
					{"alice", "alice@example.com", "no", "no", "no", "never"},
					{"bob", "bob@example.com", "yes", "yes", "no", "never"},
				} {
					assertStrings(t, "line "+lines[i], strings.Fields(lines[i]), want...)
				}
			},
		},
		{
			name:            "list empty",
			invocation:      invoke("user", "list"),
			wantCode:        exitOK,
			wantStdout:      []string{"USERNAME"},
			wantEmptyStderr: true,
			check: func(t *testing.T, _ *testEnv, r result) {
				if n := strings.Count(r.stdout, "\n"); n != 1 {
					t.Errorf("want only the header\n%s", r)
				}
			},
		},
		{
			name:       "list takes no arguments",
			invocation: invoke("user", "list", "alice"),
			wantCode:   exitUsage,
			wantStderr: []string{"expected no arguments"},
		},
		// show
		{
			name: "show",
			setup: func(t *testing.T, e *testEnv) {
				withAlice(t, e)
				e.mustGrantUser(t, "alice", "blog.add_post")
				e.mustCreateGroup(t, "editors", []string{"alice"}, "blog.change_post")
			},
			invocation:      invoke("user", "show", "alice"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, _ *testEnv, r result) {
				fields := map[string]string{}
				for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
					k, v, _ := strings.Cut(line, ":")
					fields[k] = strings.TrimSpace(v)
				}
				for k, want := range map[string]string{
					"username": "alice", "email": "alice@example.com", "is_active": "yes", "is_staff": "no",
					"is_superuser": "no", "password": "usable", "last_login": "never", "groups": "editors",
					"user_permissions": "blog.add_post", "all_permissions": "blog.add_post, blog.change_post",
				} {
					if fields[k] != want {
						t.Errorf("%s = %q, want %q\n%s", k, fields[k], want, r)
					}
				}
			},
		},
		{
			name:       "show unusable password",
			setup:      func(t *testing.T, e *testEnv) { e.mustCreateUser(t, "alice", "", nil) },
			invocation: invoke("user", "show", "alice"),
			wantCode:   exitOK,
			wantStdout: []string{"unusable"},
		},
		{
			name:            "show unknown user",
			invocation:      invoke("user", "show", "ghost"),
			wantCode:        exitError,
			wantStderr:      []string{`gateway user: user "ghost"`, "user not found"},
			wantEmptyStdout: true,
		},
		// activate / deactivate
		{
			name:            "deactivate",
			setup:           withAlice,
			invocation:      invoke("user", "deactivate", "alice"),
			wantCode:        exitOK,
			wantStdout:      []string{"User 'alice' is now inactive.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "alice", false, false, false)
				e.assertAuth(t, "alice", pwOld, false)
			},
		},
		{
			name: "activate",
			setup: func(t *testing.T, e *testEnv) {
				e.mustCreateUser(t, "alice", pwOld, func(u *authn.User) { u.IsActive = false })
			},
			invocation: invoke("user", "activate", "alice"),
			wantCode:   exitOK,
			wantStdout: []string{"User 'alice' is now active.\n"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertFlags(t, "alice", true, false, false)
				e.assertAuth(t, "alice", pwOld, true)
			},
		},
		{
			name:       "activate unknown user",
			invocation: invoke("user", "activate", "ghost"),
			wantCode:   exitError,
			wantStderr: []string{`"ghost"`, "user not found"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "users", e.usernames(t)) },
		},
		{
			name:       "deactivate unknown user",
			invocation: invoke("user", "deactivate", "ghost"),
			wantCode:   exitError,
			wantStderr: []string{`"ghost"`, "user not found"},
		},
		// delete
		{
			name: "delete then show",
			setup: func(t *testing.T, e *testEnv) {
				withAlice(t, e)
				e.mustCreateUser(t, "bob", pwOld, nil)
				e.mustCreateGroup(t, "editors", []string{"alice", "bob"})
			},
			invocation:      invoke("user", "delete", "alice"),
			wantCode:        exitOK,
			wantStdout:      []string{"User 'alice' deleted.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertNoUser(t, "alice")
				assertStrings(t, "users", e.usernames(t), "bob")
				assertStrings(t, "editors members", e.groupMembers(t, "editors"), "bob")
				r := e.run(t, invoke("user", "show", "alice"))
				if r.code != exitError || !strings.Contains(r.stderr, "user not found") {
					t.Errorf("show after delete: want exit 1 and user not found\n%s", r)
				}
				r = e.run(t, invoke("user", "delete", "alice"))
				if r.code != exitError || !strings.Contains(r.stderr, "user not found") {
					t.Errorf("second delete: want exit 1 and user not found\n%s", r)
				}
			},
		},
		{
			name:       "delete unknown user",
			invocation: invoke("user", "delete", "ghost"),
			wantCode:   exitError,
			wantStderr: []string{`"ghost"`, "user not found"},
		},
		// grant / revoke
		{
			name:            "grant several",
			setup:           withAlice,
			invocation:      invoke("user", "grant", "alice", "blog.add_post", "blog.change_post"),
			wantCode:        exitOK,
			wantStdout:      []string{"Permission 'blog.add_post' granted to user 'alice'.\n", "Permission 'blog.change_post' granted to user 'alice'.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"), "blog.add_post", "blog.change_post")
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name:            "grant with a name without a dot grants nothing",
			setup:           withAlice,
			invocation:      invoke("user", "grant", "alice", "blog.add_post", "nodot", "blog.change_post"),
			wantCode:        exitError,
			wantStderr:      []string{"invalid permission name", `"nodot"`},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"))
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name:            "grant with a malformed last name grants nothing",
			setup:           withAlice,
			invocation:      invoke("user", "grant", "alice", "blog.add_post", "Blog.x y"),
			wantCode:        exitError,
			wantStderr:      []string{"invalid permission name", `"Blog.x y"`, "app_label"},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"))
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name:       "grant of an undeclared permission",
			setup:      withAlice,
			invocation: invoke("user", "grant", "alice", "blog.can_publsh"),
			wantCode:   exitError,
			wantStderr: []string{`permission is not declared: "blog.can_publsh"`, "blog.can_publish", "gateway.models"},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"))
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name:            "grant of a built-in user-management permission",
			setup:           withAlice,
			invocation:      invoke("user", "grant", "alice", "auth.change_user", "auth.view_group"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"), "auth.change_user", "auth.view_group")
			},
		},
		{
			name:       "grant to unknown user",
			invocation: invoke("user", "grant", "ghost", "blog.add_post"),
			wantCode:   exitError,
			wantStderr: []string{`user "ghost"`, "user not found"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "known perms", e.knownPerms(t)) },
		},
		{
			name:       "grant without permission",
			setup:      withAlice,
			invocation: invoke("user", "grant", "alice"),
			wantCode:   exitUsage,
			wantStderr: []string{"expected at least 2 argument(s), got 1", "usage: gateway user grant USERNAME PERMISSION..."},
		},
		{
			name: "revoke",
			setup: func(t *testing.T, e *testEnv) {
				withAlice(t, e)
				e.mustGrantUser(t, "alice", "blog.add_post", "blog.change_post", "blog.delete_post")
			},
			invocation: invoke("user", "revoke", "alice", "blog.add_post", "blog.delete_post"),
			wantCode:   exitOK,
			wantStdout: []string{"Permission 'blog.add_post' revoked from user 'alice'.", "Permission 'blog.delete_post' revoked from user 'alice'."},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"), "blog.change_post")
				// Permissions stay known, like Django's Permission rows.
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name: "revoke with a malformed name revokes nothing",
			setup: func(t *testing.T, e *testEnv) {
				withAlice(t, e)
				e.mustGrantUser(t, "alice", "blog.add_post")
			},
			invocation: invoke("user", "revoke", "alice", "blog.add_post", "nodot"),
			wantCode:   exitError,
			wantStderr: []string{"invalid permission name", `"nodot"`},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "alice perms", e.userPerms(t, "alice"), "blog.add_post")
			},
		},
		{
			name:       "revoke from unknown user",
			invocation: invoke("user", "revoke", "ghost", "blog.add_post"),
			wantCode:   exitError,
			wantStderr: []string{"user not found"},
		},
		// dispatch
		{
			name:       "no subcommand",
			invocation: invoke("user"),
			wantCode:   exitUsage,
			wantStdout: []string{"usage: gateway user SUBCOMMAND", "gateway user grant USERNAME PERMISSION..."},
			wantStderr: []string{"missing subcommand"},
		},
		{
			name:            "help",
			invocation:      invoke("user", "help"),
			wantCode:        exitOK,
			wantStdout:      []string{"usage: gateway user SUBCOMMAND", "gateway user create USERNAME"},
			wantEmptyStderr: true,
		},
		{
			name:       "unknown subcommand",
			invocation: invoke("user", "rename", "alice", "bob"),
			wantCode:   exitUsage,
			wantStderr: []string{`unknown subcommand "rename"`, "gateway user help"},
		},
		{
			name:            "subcommand --help",
			invocation:      invoke("user", "create", "--help"),
			wantCode:        exitOK,
			wantStdout:      []string{"usage: gateway user create USERNAME", "-password-stdin", "-config"},
			wantEmptyStderr: true,
		},
	})
}

func TestGroup(t *testing.T) {
	withUsers := func(t *testing.T, e *testEnv) {
		withAlice(t, e)
		e.mustCreateUser(t, "bob", pwOld, nil)
	}
	withEditors := func(t *testing.T, e *testEnv) {
		withUsers(t, e)
		e.mustCreateGroup(t, "editors", nil)
	}
	runCases(t, []cliCase{
		{
			name:            "create",
			invocation:      invoke("group", "create", "editors"),
			wantCode:        exitOK,
			wantStdout:      []string{"Group 'editors' created.\n"},
			wantEmptyStderr: true,
			check:           func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "groups", e.groups(t), "editors") },
		},
		{
			name:            "create duplicate",
			setup:           withEditors,
			invocation:      invoke("group", "create", "editors"),
			wantCode:        exitError,
			wantStderr:      []string{`group "editors"`, "already exists"},
			wantEmptyStdout: true,
			check:           func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "groups", e.groups(t), "editors") },
		},
		{
			name:       "create invalid name",
			invocation: invoke("group", "create", "a:b"),
			wantCode:   exitError,
			wantStderr: []string{"invalid group name", "reserved"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "groups", e.groups(t)) },
		},
		{
			name: "list",
			setup: func(t *testing.T, e *testEnv) {
				e.mustCreateGroup(t, "writers", nil)
				e.mustCreateGroup(t, "editors", nil)
			},
			invocation:      invoke("group", "list"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, _ *testEnv, r result) {
				if r.stdout != "editors\nwriters\n" {
					t.Errorf("stdout = %q", r.stdout)
				}
			},
		},
		{
			name: "show",
			setup: func(t *testing.T, e *testEnv) {
				withUsers(t, e)
				e.mustCreateGroup(t, "editors", []string{"bob", "alice"}, "blog.change_post", "blog.add_post")
			},
			invocation:      invoke("group", "show", "editors"),
			wantCode:        exitOK,
			wantStdout:      []string{"name:        editors\n", "members:     alice, bob\n", "permissions: blog.add_post, blog.change_post\n"},
			wantEmptyStderr: true,
		},
		{
			name:            "show unknown group",
			invocation:      invoke("group", "show", "ghosts"),
			wantCode:        exitError,
			wantStderr:      []string{`group "ghosts"`, "group not found"},
			wantEmptyStdout: true,
		},
		{
			name: "delete",
			setup: func(t *testing.T, e *testEnv) {
				withUsers(t, e)
				e.mustCreateGroup(t, "editors", []string{"alice"}, "blog.change_post")
				e.mustCreateGroup(t, "writers", []string{"alice"})
			},
			invocation: invoke("group", "delete", "editors"),
			wantCode:   exitOK,
			wantStdout: []string{"Group 'editors' deleted.\n"},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "groups", e.groups(t), "writers")
				assertStrings(t, "alice groups", e.userGroups(t, "alice"), "writers")
				r := e.run(t, invoke("group", "show", "editors"))
				if r.code != exitError {
					t.Errorf("show after delete: want exit 1\n%s", r)
				}
			},
		},
		{
			name:       "delete unknown group",
			invocation: invoke("group", "delete", "ghosts"),
			wantCode:   exitError,
			wantStderr: []string{`group "ghosts"`, "group not found"},
		},
		{
			name:            "add-user",
			setup:           withEditors,
			invocation:      invoke("group", "add-user", "editors", "alice", "bob"),
			wantCode:        exitOK,
			wantStdout:      []string{"User 'alice' added to group 'editors'.\n", "User 'bob' added to group 'editors'.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "members", e.groupMembers(t, "editors"), "alice", "bob")
				assertStrings(t, "alice groups", e.userGroups(t, "alice"), "editors")
			},
		},
		{
			name:            "add-user unknown user",
			setup:           withEditors,
			invocation:      invoke("group", "add-user", "editors", "ghost"),
			wantCode:        exitError,
			wantStderr:      []string{`user "ghost"`, "user not found"},
			wantEmptyStdout: true,
			check:           func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "members", e.groupMembers(t, "editors")) },
		},
		{
			name:            "add-user with one unknown user changes nothing",
			setup:           withEditors,
			invocation:      invoke("group", "add-user", "editors", "alice", "ghost"),
			wantCode:        exitError,
			wantStderr:      []string{`user "ghost"`, "user not found"},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "members", e.groupMembers(t, "editors"))
				assertStrings(t, "alice groups", e.userGroups(t, "alice"))
			},
		},
		{
			name:       "add-user to unknown group",
			setup:      withUsers,
			invocation: invoke("group", "add-user", "ghosts", "alice"),
			wantCode:   exitError,
			wantStderr: []string{`group "ghosts"`, "group not found"},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "groups", e.groups(t))
				assertStrings(t, "alice groups", e.userGroups(t, "alice"))
			},
		},
		{
			name:       "add-user without user",
			setup:      withEditors,
			invocation: invoke("group", "add-user", "editors"),
			wantCode:   exitUsage,
			wantStderr: []string{"usage: gateway group add-user GROUP USERNAME..."},
		},
		{
			name: "remove-user",
			setup: func(t *testing.T, e *testEnv) {
				withUsers(t, e)
				e.mustCreateGroup(t, "editors", []string{"alice", "bob"})
			},
			invocation: invoke("group", "remove-user", "editors", "alice"),
			wantCode:   exitOK,
			wantStdout: []string{"User 'alice' removed from group 'editors'.\n"},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "members", e.groupMembers(t, "editors"), "bob")
				assertStrings(t, "alice groups", e.userGroups(t, "alice"))
			},
		},
		{
			name:       "remove-user unknown user",
			setup:      withEditors,
			invocation: invoke("group", "remove-user", "editors", "ghost"),
			wantCode:   exitError,
			wantStderr: []string{"user not found"},
		},
		{
			name:       "remove-user from unknown group",
			setup:      withUsers,
			invocation: invoke("group", "remove-user", "ghosts", "alice"),
			wantCode:   exitError,
			wantStderr: []string{"group not found"},
		},
		{
			name:            "grant",
			setup:           withEditors,
			invocation:      invoke("group", "grant", "editors", "blog.add_post", "blog.change_post"),
			wantCode:        exitOK,
			wantStdout:      []string{"Permission 'blog.add_post' granted to group 'editors'.\n", "Permission 'blog.change_post' granted to group 'editors'.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "group perms", e.groupPerms(t, "editors"), "blog.add_post", "blog.change_post")
			},
		},
		{
			name:            "grant with a malformed name grants nothing",
			setup:           withEditors,
			invocation:      invoke("group", "grant", "editors", "blog.add_post", "Blog.x y", "nodot"),
			wantCode:        exitError,
			wantStderr:      []string{"invalid permission name", `"Blog.x y"`},
			wantEmptyStdout: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "group perms", e.groupPerms(t, "editors"))
				assertStrings(t, "known perms", e.knownPerms(t))
			},
		},
		{
			name:       "grant to unknown group",
			invocation: invoke("group", "grant", "ghosts", "blog.add_post"),
			wantCode:   exitError,
			wantStderr: []string{`group "ghosts"`, "group not found"},
			check:      func(t *testing.T, e *testEnv, _ result) { assertStrings(t, "known perms", e.knownPerms(t)) },
		},
		{
			name: "revoke",
			setup: func(t *testing.T, e *testEnv) {
				e.mustCreateGroup(t, "editors", nil, "blog.add_post", "blog.change_post")
			},
			invocation: invoke("group", "revoke", "editors", "blog.add_post"),
			wantCode:   exitOK,
			wantStdout: []string{"Permission 'blog.add_post' revoked from group 'editors'.\n"},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "group perms", e.groupPerms(t, "editors"), "blog.change_post")
			},
		},
		{
			name:       "revoke from unknown group",
			invocation: invoke("group", "revoke", "ghosts", "blog.add_post"),
			wantCode:   exitError,
			wantStderr: []string{"group not found"},
		},
		{
			name:       "no subcommand",
			invocation: invoke("group"),
			wantCode:   exitUsage,
			wantStdout: []string{"usage: gateway group SUBCOMMAND"},
		},
		{
			name:       "unknown subcommand",
			invocation: invoke("group", "rename", "a", "b"),
			wantCode:   exitUsage,
			wantStderr: []string{`unknown subcommand "rename"`},
		},
	})
}

func TestCheckConfig(t *testing.T) {
	secretEnv := []string{"GATEWAY_SECRET_KEY=" + testSecret}
	const broken = `listen: ":8080"
colour: blue
upstreams:
  - url: "ftp://127.0.0.1:9"
    urll: "http://127.0.0.1:9"
password_hashers:
  - algorithm: pbkdf2_sha256
    iterations: 10
`
	withBroken := func(t *testing.T, e *testEnv) { e.writeFile(t, "broken.yaml", broken) }
	runCases(t, []cliCase{
		{
			name:            "valid",
			invocation:      invocation{args: []string{"check-config", "--config", "@CONFIG"}, env: secretEnv},
			wantCode:        exitOK,
			wantStdout:      []string{"@CONFIG: configuration is valid\n"},
			wantEmptyStderr: true,
		},
		{
			name:       "valid via GATEWAY_CONFIG",
			invocation: invocation{args: []string{"check-config"}, env: secretEnv},
			wantCode:   exitOK,
			wantStdout: []string{"@CONFIG: configuration is valid"},
		},
		{
			name: "valid with secret_key in the file",
			setup: func(t *testing.T, e *testEnv) {
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"secret_key: "+testSecret+"\n")
			},
			invocation: invoke("check-config"),
			wantCode:   exitOK,
			wantStdout: []string{"configuration is valid"},
		},
		{
			name:            "missing GATEWAY_SECRET_KEY",
			invocation:      invoke("check-config"),
			wantCode:        exitError,
			wantStderr:      []string{"gateway check-config: invalid configuration:\n", "@CONFIG: secret_key: required"},
			wantEmptyStdout: true,
		},
		{
			name:       "weak GATEWAY_SECRET_KEY is reported without its value",
			invocation: invocation{args: []string{"check-config"}, env: []string{"GATEWAY_SECRET_KEY=django-insecure-abcdefghijklmnopqrstuvwxyz"}},
			wantCode:   exitError,
			wantStderr: []string{"GATEWAY_SECRET_KEY (secret_key): is a development key"},
			check: func(t *testing.T, _ *testEnv, r result) {
				if strings.Contains(r.stderr, "abcdefghijklmnopqrstuvwxyz") {
					t.Errorf("secret key value in output\n%s", r)
				}
			},
		},
		{
			name:            "broken file lists every problem",
			setup:           withBroken,
			invocation:      invocation{args: []string{"check-config", "--config", "@DIR/broken.yaml"}, env: secretEnv},
			wantCode:        exitError,
			wantEmptyStdout: true,
			wantStderr: []string{
				"gateway check-config: invalid configuration:\n",
				"@DIR/broken.yaml: colour: unknown key (line 2)",
				"@DIR/broken.yaml: upstreams[0].urll: unknown key (line 5)",
				"@DIR/broken.yaml: upstreams[0].url: scheme must be http or https",
				"@DIR/broken.yaml: password_hashers[0].iterations: must be from 1000 to 100000000, got 10; fewer make stolen hashes cheap to crack",
			},
		},
		{
			name:       "broken file without secret key lists that too",
			setup:      withBroken,
			invocation: invoke("check-config", "--config", "@DIR/broken.yaml"),
			wantCode:   exitError,
			wantStderr: []string{"colour: unknown key", "upstreams[0].url: scheme", "secret_key: required"},
		},
		{
			name:       "bad environment override names the variable",
			invocation: invocation{args: []string{"check-config"}, env: append([]string{"GATEWAY_REDIS_DB=x", "GATEWAY_BOGUS=1"}, secretEnv...)},
			wantCode:   exitError,
			wantStderr: []string{"GATEWAY_REDIS_DB (redis.db): must be an integer", "GATEWAY_BOGUS"},
		},
		{
			name:       "missing file",
			invocation: invocation{args: []string{"check-config", "--config", "@DIR/nope.yaml"}, env: secretEnv},
			wantCode:   exitError,
			wantStderr: []string{"@DIR/nope.yaml", "no such file"},
		},
		{
			name:       "does not need Redis",
			setup:      func(t *testing.T, e *testEnv) { e.srv.Stop() },
			invocation: invocation{args: []string{"check-config"}, env: secretEnv},
			wantCode:   exitOK,
		},
		{
			name:       "positional argument",
			invocation: invocation{args: []string{"check-config", "@CONFIG"}, env: secretEnv},
			wantCode:   exitUsage,
			wantStderr: []string{"expected no arguments", "usage: gateway check-config"},
		},
		// Management commands do not need a secret key, but the rest of the
		// configuration is still validated.
		{
			name:       "management command without secret key",
			setup:      withAlice,
			invocation: invoke("user", "list"),
			wantCode:   exitOK,
			wantStdout: []string{"alice"},
		},
		{
			name:       "management command with a weak secret key",
			setup:      withAlice,
			invocation: invocation{args: []string{"user", "list"}, env: []string{"GATEWAY_SECRET_KEY=short"}},
			wantCode:   exitOK,
			wantStdout: []string{"alice"},
		},
		{
			name:       "management command with a broken file",
			setup:      withBroken,
			invocation: invoke("user", "list", "--config", "@DIR/broken.yaml"),
			wantCode:   exitError,
			wantStderr: []string{"invalid configuration", "@DIR/broken.yaml: colour: unknown key (line 2)", "upstreams[0].url: scheme"},
			check: func(t *testing.T, _ *testEnv, r result) {
				if strings.Contains(r.stderr, "secret_key") {
					t.Errorf("management command complains about secret_key\n%s", r)
				}
			},
		},
		{
			name:       "management command with a missing file",
			invocation: invocation{args: []string{"group", "list"}, noDefaultConfig: true},
			wantCode:   exitError,
			wantStderr: []string{"read configuration", "config.yaml", "no such file"},
		},
	})
}

func TestTopLevel(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:            "help",
			invocation:      invoke("help"),
			wantCode:        exitOK,
			wantStdout:      []string{"usage: gateway COMMAND", "createsuperuser", "changepassword", "check-config"},
			wantEmptyStderr: true,
		},
		{
			name:       "--help",
			invocation: invoke("--help"),
			wantCode:   exitOK,
			wantStdout: []string{"usage: gateway COMMAND"},
		},
		{
			name:       "-h",
			invocation: invoke("-h"),
			wantCode:   exitOK,
			wantStdout: []string{"usage: gateway COMMAND"},
		},
		{
			name:       "no arguments",
			invocation: invoke(),
			wantCode:   exitUsage,
			wantStdout: []string{"usage: gateway COMMAND"},
		},
		{
			name:            "unknown command",
			invocation:      invoke("frobnicate", "--config", "@CONFIG"),
			wantCode:        exitUsage,
			wantStderr:      []string{`gateway: unknown command "frobnicate"`, "usage: gateway COMMAND"},
			wantEmptyStdout: true,
		},
		{
			name:            "version",
			invocation:      invoke("version"),
			wantCode:        exitOK,
			wantStdout:      []string{"gateway " + Version + "\n"},
			wantEmptyStderr: true,
		},
	})
}

// TestRedisUnreachable stops the server before each command: every command
// that needs the store fails with exit 1 and names redis.addr.
func TestRedisUnreachable(t *testing.T) {
	stop := func(t *testing.T, e *testEnv) {
		withAlice(t, e)
		e.srv.Stop()
	}
	want := []string{"cannot reach Redis at @ADDR (redis.addr)"}
	var cases []cliCase
	for _, inv := range []invocation{
		{args: []string{"createsuperuser", "--username", "admin", "--noinput"}, env: []string{"GATEWAY_SUPERUSER_PASSWORD=" + pwSuper}},
		{args: []string{"createsuperuser", "--username", "admin"}, terminal: true, termInput: []string{pwSuper, pwSuper}},
		{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: pwNew + "\n"},
		{args: []string{"user", "create", "bob", "--password-stdin"}, stdin: pwNew + "\n"},
		{args: []string{"user", "list"}},
		{args: []string{"user", "show", "alice"}},
		{args: []string{"user", "grant", "alice", "blog.add_post"}},
		{args: []string{"group", "create", "editors"}},
		{args: []string{"group", "list"}},
	} {
		cases = append(cases, cliCase{
			name:            strings.Join(inv.args[:2], " "),
			setup:           stop,
			invocation:      inv,
			wantCode:        exitError,
			wantStderr:      want,
			wantEmptyStdout: true,
			check: func(t *testing.T, _ *testEnv, r result) {
				if len(r.prompts) != 0 {
					t.Errorf("prompted for a password although Redis is down: %q", r.prompts)
				}
			},
		})
	}
	// Distinct names for the two createsuperuser runs.
	cases[1].name = "createsuperuser interactive"
	runCases(t, cases)
}

// TestHashPassword checks hash-password, whose output is a hash.
func TestHashPassword(t *testing.T) {
	e := newTestEnv(t)
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: authn.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("stdin", func(t *testing.T) {
		r := e.run(t, invocation{args: []string{"hash-password"}, stdin: pwNew + "\n", printsHash: true})
		enc := strings.TrimSpace(r.stdout)
		if r.code != exitOK || !strings.HasPrefix(enc, "pbkdf2_sha256$1000$") {
			t.Fatalf("want a pbkdf2_sha256 hash with the configured iterations\n%s", r)
		}
		if ok, _ := hs.Check(pwNew, enc); !ok {
			t.Fatal("the printed hash does not verify the password")
		}
		if strings.Contains(r.stdout+r.stderr, pwNew) {
			t.Fatal("the password was echoed")
		}
	})
	t.Run("terminal asks twice", func(t *testing.T) {
		r := e.run(t, invocation{args: []string{"hash-password"}, terminal: true, termInput: []string{pwNew, pwNew}, printsHash: true})
		if ok, _ := hs.Check(pwNew, strings.TrimSpace(r.stdout)); r.code != exitOK || !ok {
			t.Fatalf("want a verifying hash\n%s", r)
		}
	})
	t.Run("empty", func(t *testing.T) {
		r := e.run(t, invocation{args: []string{"hash-password"}, stdin: "\n"})
		if r.code != exitError || !strings.Contains(r.stderr, "password must not be empty") || r.stdout != "" {
			t.Fatalf("want exit 1 and no hash\n%s", r)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		r := e.run(t, invocation{args: []string{"hash-password", "--config", "/nonexistent.yaml"}, stdin: pwNew + "\n"})
		if r.code != exitError || !strings.Contains(r.stderr, "/nonexistent.yaml") {
			t.Fatalf("want exit 1 naming the file\n%s", r)
		}
	})
}
