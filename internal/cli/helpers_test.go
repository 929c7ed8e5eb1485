package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/testredis"
	"github.com/djangate/gateway/policies"
)

// Passwords and secrets used by the tests. They are long and distinctive
// so that finding one in a command's output cannot be a coincidence; every
// case asserts that none of them is ever printed.
const (
	pwOld      = "0ld-Passw0rd-qwxz"
	pwNew      = "N3w-Passw0rd-vbnm"
	pwOther    = "0ther-Passw0rd-hjkl"
	pwWrong    = "Wr0ng-Passw0rd-tyui"
	pwSuper    = "Sup3r-Passw0rd-asdf"
	testSecret = "cli-test-Secret-Key-Zq8vN3xL0pR7tY2wE5uI9oA4"
	testPrefix = "clitest:"
)

var knownSecrets = []string{pwOld, pwNew, pwOther, pwWrong, pwSuper, testSecret}

// testEnv is one real redis-server, a config file pointing at it and an
// identity store over the same keys the CLI uses.
type testEnv struct {
	srv     *testredis.Server
	dir     string
	cfgPath string
	rdb     *redis.Client
	store   *authn.Store
	hashers *authn.Hashers
	// declared are the models declared before each case.
	declared []authn.Model
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := testredis.Start(t)
	dir := t.TempDir()
	e := &testEnv{srv: srv, dir: dir, cfgPath: filepath.Join(dir, "config.yaml")}
	e.writeFile(t, "config.yaml", validConfig(srv.Addr()))
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: authn.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		t.Fatalf("NewHashers: %v", err)
	}
	e.hashers = hs
	e.rdb = redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = e.rdb.Close() })
	e.store = authn.NewStore(e.rdb, testPrefix, hs)
	// What every management command declares first (the config names no
	// policy, so the embedded one): built-in and policy models.
	engine, err := authz.New(context.Background(), authz.Options{FS: policies.FS, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.declared = append(authn.BuiltinModels(), engine.Models()...)
	if err := e.store.DeclareModels(context.Background(), e.declared...); err != nil {
		t.Fatal(err)
	}
	return e
}

func validConfig(redisAddr string) string {
	return fmt.Sprintf(`redis:
  addr: %q
  key_prefix: %q
upstreams:
  - url: "http://127.0.0.1:9"
password_hashers:
  - algorithm: pbkdf2_sha256
    iterations: 1000
`, redisAddr, testPrefix)
}

func (e *testEnv) writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// expand replaces @CONFIG, @DIR and @ADDR in s.
func (e *testEnv) expand(s string) string {
	return strings.NewReplacer("@CONFIG", e.cfgPath, "@DIR", e.dir, "@ADDR", e.srv.Addr()).Replace(s)
}

// invocation is one run of Main.
type invocation struct {
	args  []string
	env   []string // extra NAME=value entries, after the default GATEWAY_CONFIG
	stdin string
	// terminal makes IO.Terminal report true; termInput are the answers
	// ReadPassword gives in order (io.EOF once they run out).
	terminal  bool
	termInput []string
	// noDefaultConfig leaves GATEWAY_CONFIG out of the environment.
	noDefaultConfig bool
	// printsHash: the command's job is to print a hash (hash-password).
	printsHash bool
}

type result struct {
	code           int
	stdout, stderr string
	prompts        []string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// run calls Main in-process. The environment is built from scratch so that
// GATEWAY_* variables of the developer's shell cannot leak in.
func (e *testEnv) run(t *testing.T, inv invocation) result {
	t.Helper()
	var environ []string
	if !inv.noDefaultConfig {
		environ = append(environ, "GATEWAY_CONFIG="+e.cfgPath)
	}
	for _, kv := range inv.env {
		environ = append(environ, e.expand(kv))
	}
	args := make([]string, len(inv.args))
	for i, a := range inv.args {
		args[i] = e.expand(a)
	}
	var stdout, stderr bytes.Buffer
	var r result
	input := slices.Clone(inv.termInput)
	cio := IO{
		Stdin:    strings.NewReader(inv.stdin),
		Stdout:   &stdout,
		Stderr:   &stderr,
		Environ:  environ,
		Terminal: func() bool { return inv.terminal },
		ReadPassword: func(prompt string) (string, error) {
			r.prompts = append(r.prompts, prompt)
			if !inv.terminal {
				t.Errorf("ReadPassword(%q) called although stdin is not a terminal", prompt)
			}
			if len(input) == 0 {
				return "", io.EOF
			}
			p := input[0]
			input = input[1:]
			return p, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.code = Main(ctx, args, cio)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	assertNoSecrets(t, r, inv)
	return r
}

// assertNoSecrets fails if any password, the secret key or a password hash
// shows up in the output.
func assertNoSecrets(t *testing.T, r result, inv invocation) {
	t.Helper()
	secrets := slices.Clone(knownSecrets)
	secrets = append(secrets, inv.termInput...)
	secrets = append(secrets, strings.Split(inv.stdin, "\n")...)
	for _, kv := range inv.env {
		if k, v, _ := strings.Cut(kv, "="); k == "GATEWAY_SUPERUSER_PASSWORD" || k == "GATEWAY_SECRET_KEY" {
			secrets = append(secrets, v)
		}
	}
	slices.Sort(secrets)
	secrets = slices.Compact(secrets)
	out := r.stdout + r.stderr
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < 6 { // too short to tell apart from ordinary text
			continue
		}
		if strings.Contains(out, s) {
			t.Errorf("secret %q appears in the output:\n%s", s, r)
		}
	}
	if strings.Contains(out, authn.AlgorithmPBKDF2SHA256+"$") && !inv.printsHash {
		t.Errorf("a password hash appears in the output:\n%s", r)
	}
}

// --- store helpers ---

func (e *testEnv) mustCreateUser(t *testing.T, username, password string, mod func(*authn.User)) {
	t.Helper()
	u := &authn.User{Username: username, Email: username + "@example.com", IsActive: true}
	if mod != nil {
		mod(u)
	}
	if password == "" {
		u.Password = e.hashers.MakeUnusable()
	}
	if _, err := e.store.CreateUser(context.Background(), u, password); err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
}

func (e *testEnv) mustCreateGroup(t *testing.T, name string, members []string, perms ...string) {
	t.Helper()
	ctx := context.Background()
	if err := e.store.CreateGroup(ctx, name); err != nil {
		t.Fatalf("CreateGroup(%q): %v", name, err)
	}
	for _, m := range members {
		if err := e.store.AddUserToGroup(ctx, m, name); err != nil {
			t.Fatalf("AddUserToGroup(%q, %q): %v", m, name, err)
		}
	}
	for _, p := range perms {
		if err := e.store.GrantGroupPermission(ctx, name, p); err != nil {
			t.Fatalf("GrantGroupPermission(%q, %q): %v", name, p, err)
		}
	}
}

func (e *testEnv) mustGrantUser(t *testing.T, username string, perms ...string) {
	t.Helper()
	for _, p := range perms {
		if err := e.store.GrantUserPermission(context.Background(), username, p); err != nil {
			t.Fatalf("GrantUserPermission(%q, %q): %v", username, p, err)
		}
	}
}

// user returns the stored user, failing the test if it does not exist.
func (e *testEnv) user(t *testing.T, username string) *authn.User {
	t.Helper()
	u, err := e.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("GetUserByUsername(%q): %v", username, err)
	}
	return u
}

func (e *testEnv) assertNoUser(t *testing.T, username string) {
	t.Helper()
	_, err := e.store.GetUserByUsername(context.Background(), username)
	if !errors.Is(err, authn.ErrUserNotFound) {
		t.Errorf("GetUserByUsername(%q) error = %v, want ErrUserNotFound", username, err)
	}
}

func (e *testEnv) usernames(t *testing.T) []string {
	t.Helper()
	users, err := e.store.ListUsers(context.Background())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	names := []string{}
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

func (e *testEnv) assertAuth(t *testing.T, username, password string, wantOK bool) {
	t.Helper()
	_, err := e.store.Authenticate(context.Background(), username, password)
	switch {
	case wantOK && err != nil:
		t.Errorf("Authenticate(%q, <password>) = %v, want success", username, err)
	case !wantOK && !errors.Is(err, authn.ErrInvalidCredentials):
		t.Errorf("Authenticate(%q, <password>) = %v, want ErrInvalidCredentials", username, err)
	}
}

func (e *testEnv) assertFlags(t *testing.T, username string, active, staff, superuser bool) {
	t.Helper()
	u := e.user(t, username)
	if u.IsActive != active || u.IsStaff != staff || u.IsSuperuser != superuser {
		t.Errorf("user %q: active/staff/superuser = %v/%v/%v, want %v/%v/%v",
			username, u.IsActive, u.IsStaff, u.IsSuperuser, active, staff, superuser)
	}
}

func (e *testEnv) userPerms(t *testing.T, username string) []string {
	t.Helper()
	p, err := e.store.UserPermissions(context.Background(), username)
	if err != nil {
		t.Fatalf("UserPermissions(%q): %v", username, err)
	}
	return p
}

// knownPerms are the known permissions beyond the declared ones: a grant
// or a failed command must never add any.
func (e *testEnv) knownPerms(t *testing.T) []string {
	t.Helper()
	p, err := e.store.KnownPermissions(context.Background())
	if err != nil {
		t.Fatalf("KnownPermissions: %v", err)
	}
	var declared []string
	for _, m := range e.declared {
		declared = append(declared, m.PermissionNames()...)
	}
	return slices.DeleteFunc(p, func(x string) bool { return slices.Contains(declared, x) })
}

func (e *testEnv) groups(t *testing.T) []string {
	t.Helper()
	g, err := e.store.ListGroups(context.Background())
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if g == nil {
		g = []string{}
	}
	return g
}

func (e *testEnv) groupMembers(t *testing.T, name string) []string {
	t.Helper()
	m, err := e.store.GroupMembers(context.Background(), name)
	if err != nil {
		t.Fatalf("GroupMembers(%q): %v", name, err)
	}
	return m
}

func (e *testEnv) groupPerms(t *testing.T, name string) []string {
	t.Helper()
	p, err := e.store.GroupPermissions(context.Background(), name)
	if err != nil {
		t.Fatalf("GroupPermissions(%q): %v", name, err)
	}
	return p
}

func (e *testEnv) userGroups(t *testing.T, username string) []string {
	t.Helper()
	p, err := e.store.LoadPrincipal(context.Background(), e.user(t, username).ID, "")
	if err != nil {
		t.Fatalf("LoadPrincipal(%q): %v", username, err)
	}
	return p.Groups
}

func assertStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if got == nil {
		got = []string{}
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// --- the table runner ---

// cliCase is one named run of Main against a fresh redis-server.
type cliCase struct {
	name  string
	setup func(t *testing.T, e *testEnv)
	invocation
	wantCode int
	// wantStdout and wantStderr are substrings (after expand) that must
	// appear; an empty string in them is ignored. wantEmptyStdout and
	// wantEmptyStderr require the stream to be empty.
	wantStdout, wantStderr           []string
	wantEmptyStdout, wantEmptyStderr bool
	// check inspects the store (and the result) afterwards.
	check func(t *testing.T, e *testEnv, r result)
}

func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			r := e.run(t, tc.invocation)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d\n%s", r.code, tc.wantCode, r)
			}
			for _, w := range tc.wantStdout {
				if w = e.expand(w); !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not contain %q\n%s", w, r)
				}
			}
			for _, w := range tc.wantStderr {
				if w = e.expand(w); !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q\n%s", w, r)
				}
			}
			if tc.wantEmptyStdout && r.stdout != "" {
				t.Errorf("stdout not empty\n%s", r)
			}
			if tc.wantEmptyStderr && r.stderr != "" {
				t.Errorf("stderr not empty\n%s", r)
			}
			if tc.check != nil {
				tc.check(t, e, r)
			}
		})
	}
}

// invoke is shorthand for an invocation with only arguments.
func invoke(a ...string) invocation { return invocation{args: a} }
