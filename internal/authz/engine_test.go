package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/policies"
)

var quiet = slog.New(slog.DiscardHandler)

// Principals used across the tests.

func user(name string, mod func(*authn.Principal)) *authn.Principal {
	p := &authn.Principal{
		User:    &authn.User{ID: 1, Username: name, Email: name + "@example.com", IsActive: true},
		Backend: "session",
	}
	if mod != nil {
		mod(p)
	}
	return p
}

var (
	anon = authn.Anonymous
	bob  = user("bob", nil)
	// alice edits: reports, view/add/change blog posts, group editors.
	alice = user("alice", func(p *authn.Principal) {
		p.Groups = []string{"editors"}
		p.Permissions = []string{"blog.add_post", "blog.change_post", "blog.view_post", "reports.view_report"}
	})
	inactiveAlice = user("alice", func(p *authn.Principal) {
		p.User.IsActive = false
		p.Groups = []string{"editors"}
		// authn gives inactive users no permissions; the policy must not
		// rely on that.
		p.Permissions = []string{"reports.view_report"}
	})
	staff = user("sam", func(p *authn.Principal) { p.User.IsStaff = true })
	root  = user("root", func(p *authn.Principal) { p.User.IsSuperuser = true })
	// rootNotActive is an inactive superuser.
	rootNotActive = user("root", func(p *authn.Principal) { p.User.IsSuperuser = true; p.User.IsActive = false })
)

func req(method, path string) Request {
	return Request{Method: method, Path: path, Host: "example.com", Scheme: "https"}
}

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.Timeout == 0 {
		// Generous, so that tests don't flake on a loaded machine or
		// under -race; TestDecideTimeout sets its own.
		opts.Timeout = 10 * time.Second
	}
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func defaultEngine(t testing.TB) *Engine {
	return newEngine(t, Options{FS: policies.FS, Source: "embedded"})
}

func TestDecideDefaultPolicy(t *testing.T) {
	e := defaultEngine(t)
	cases := []struct {
		name   string
		p      *authn.Principal
		method string
		path   string
		allow  bool
		reason string // checked when not empty
	}{
		{"public exact /, anonymous", anon, "GET", "/", true, "route 0 (path /): public"},
		{"public prefix /static/, anonymous", anon, "GET", "/static/css/site.css", true, ""},
		{"public prefix /public/, inactive user", inactiveAlice, "POST", "/public/form/", true, ""},
		{"login /account/, anonymous", anon, "GET", "/account/", false, "route 3 (prefix /account/): login required"},
		{"login /account/, user", bob, "GET", "/account/settings/", true, ""},
		{"login /account/, inactive", inactiveAlice, "GET", "/account/", false, "route 3 (prefix /account/): user is inactive"},
		{"permission /reports/, with perm", alice, "GET", "/reports/2024/", true, ""},
		{"permission /reports/, without", bob, "GET", "/reports/2024/", false, "route 4 (prefix /reports/): missing permission reports.view_report"},
		{"permission /reports/, superuser", root, "GET", "/reports/", true, ""},
		{"permission /reports/, inactive superuser", rootNotActive, "GET", "/reports/", false, ""},
		{"permission /reports/, inactive with perm", inactiveAlice, "GET", "/reports/", false, ""},
		{"group /editors/, member", alice, "GET", "/editors/", true, "route 5 (prefix /editors/): member of editors"},
		{"group /editors/, non-member", bob, "GET", "/editors/", false, ""},
		{"group /editors/, superuser not member", root, "GET", "/editors/", false, ""},
		{"staff /admin/, staff", staff, "GET", "/admin/", true, "route 6 (prefix /admin/): staff"},
		{"staff /admin/, superuser without is_staff", root, "GET", "/admin/", false, "route 6 (prefix /admin/): staff only"},
		{"staff /admin/, anonymous", anon, "GET", "/admin/login/", false, ""},
		{"model GET needs view", alice, "GET", "/api/blog/post/1/", true, "route 7 (prefix /api/blog/post/): has blog.view_post"},
		{"model HEAD needs view", alice, "HEAD", "/api/blog/post/1/", true, ""},
		{"model POST needs add", alice, "POST", "/api/blog/post/", true, "route 7 (prefix /api/blog/post/): has blog.add_post"},
		{"model PUT needs change", alice, "PUT", "/api/blog/post/1/", true, ""},
		{"model PATCH needs change", alice, "PATCH", "/api/blog/post/1/", true, ""},
		{"model DELETE needs delete", alice, "DELETE", "/api/blog/post/1/", false, "route 7 (prefix /api/blog/post/): missing permission blog.delete_post"},
		{"model DELETE, superuser", root, "DELETE", "/api/blog/post/1/", true, ""},
		{"model OPTIONS denied", root, "OPTIONS", "/api/blog/post/1/", false, "route 7 (prefix /api/blog/post/): method OPTIONS is not allowed on model blog.post (GET, HEAD, POST, PUT, PATCH, DELETE are)"},
		{"model, anonymous", anon, "GET", "/api/blog/post/1/", false, "route 7 (prefix /api/blog/post/): login required"},
		{"catch-all, anonymous", anon, "GET", "/somewhere/else", false, "route 8 (prefix /): login required"},
		{"catch-all, user", bob, "GET", "/somewhere/else", true, "route 8 (prefix /): logged in"},
		{"prefix is a string prefix: /publicity is not /public/", anon, "GET", "/publicity", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(t.Context(), &Input{Principal: tc.p, Request: req(tc.method, tc.path)})
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tc.allow {
				t.Errorf("allow = %v, want %v (reason %q)", d.Allow, tc.allow, d.Reason)
			}
			if tc.reason != "" && d.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", d.Reason, tc.reason)
			}
			if d.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

// The shipped policy decides every combination without an error, even
// with built-in errors fatal.
func TestDefaultPolicyAlwaysDecides(t *testing.T) {
	e := defaultEngine(t)
	principals := map[string]*authn.Principal{
		"anonymous": anon, "bob": bob, "alice": alice, "inactive": inactiveAlice,
		"staff": staff, "root": root, "inactive root": rootNotActive,
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "get"}
	paths := []string{
		"/", "/static/", "/public/a", "/account/", "/reports/x", "/editors/",
		"/admin/", "/api/blog/post/", "/api/blog/post/1/", "/elsewhere", "/caf%C3%A9/", "",
	}
	for name, p := range principals {
		for _, m := range methods {
			for _, path := range paths {
				in := &Input{Principal: p, Request: req(m, path)}
				in.Request.Query = "a=1&a=2"
				if _, err := e.Decide(t.Context(), in); err != nil {
					t.Errorf("%s %s %q: %v", name, m, path, err)
				}
			}
		}
	}
}

func TestDecideNoRouteMatches(t *testing.T) {
	fsys := fstest.MapFS{
		"authz.rego":  file(mustRead(t, "authz.rego")),
		"django.rego": file(mustRead(t, "django.rego")),
		"data.yaml":   file("gateway:\n  routes:\n    - path: /only\n      public: true\n"),
	}
	e := newEngine(t, Options{FS: fsys})
	d, err := e.Decide(t.Context(), &Input{Principal: root, Request: req("GET", "/other")})
	if err != nil {
		t.Fatal(err)
	}
	if d != (Decision{Allow: false, Reason: "no route matches"}) {
		t.Errorf("got %+v", d)
	}
}

// policyFS is a one-module policy tree.
func policyFS(rego string) fstest.MapFS {
	return fstest.MapFS{"policy.rego": file(rego)}
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }

func mustRead(t testing.TB, name string) string {
	t.Helper()
	b, err := policies.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecideResultShapes(t *testing.T) {
	cases := []struct {
		name    string
		rule    string
		want    Decision
		wantErr error // nil: success
		errText string
	}{
		{"object", `decision := {"allow": true, "reason": "ok"}`, Decision{Allow: true, Reason: "ok"}, nil, ""},
		{"object deny", `decision := {"allow": false, "reason": "no"}`, Decision{Allow: false, Reason: "no"}, nil, ""},
		{"extra keys are ignored", `decision := {"allow": true, "reason": "ok", "status": 200}`, Decision{Allow: true, Reason: "ok"}, nil, ""},
		{"no reason", `decision := {"allow": true}`, Decision{Allow: true, Reason: ""}, nil, ""},
		{"bare true", `decision := true`, Decision{Allow: true, Reason: ""}, nil, ""},
		{"bare false", `decision := false`, Decision{Allow: false, Reason: ""}, nil, ""},
		{"undefined", `decision := true if input.request.method == "NOPE"`, Decision{}, ErrUndefined, "undefined"},
		{"missing allow", `decision := {"reason": "x"}`, Decision{}, ErrPolicy, `"allow" must be a boolean`},
		{"allow is a string", `decision := {"allow": "true", "reason": "x"}`, Decision{}, ErrPolicy, `"allow" must be a boolean`},
		{"reason not a string", `decision := {"allow": true, "reason": 1}`, Decision{}, ErrPolicy, `"reason" must be a string`},
		{"a string", `decision := "allow"`, Decision{}, ErrPolicy, "must be an object"},
		{"a set of objects", `decision contains {"allow": true}`, Decision{}, ErrPolicy, "must be an object"},
		{
			"eval error: built-in error",
			`decision := {"allow": to_number("x") > 0, "reason": ""}`,
			Decision{}, ErrPolicy, "to_number",
		},
		{
			"eval error: built-in error under not",
			"decision := {\"allow\": true, \"reason\": \"not blocked\"} if not blocked\n\nblocked if to_number(input.request.path) > 0",
			Decision{}, ErrPolicy, "to_number",
		},
		{
			"eval error: conflicting values",
			"decision := {\"allow\": true, \"reason\": \"a\"} if input.request.method == \"GET\"\n" +
				"decision := {\"allow\": false, \"reason\": \"b\"} if input.request.path == \"/\"",
			Decision{}, ErrPolicy, "eval_conflict_error",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Options{FS: policyFS("package gateway.authz\n\n" + tc.rule + "\n")})
			d, err := e.Decide(t.Context(), &Input{Principal: root, Request: req("GET", "/")})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Decide: %v", err)
				}
				if d != tc.want {
					t.Errorf("got %+v, want %+v", d, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrPolicy) {
				t.Fatalf("err = %v, want %v (and ErrPolicy)", err, tc.wantErr)
			}
			if tc.wantErr == ErrPolicy && errors.Is(err, ErrUndefined) {
				t.Errorf("err = %v: an eval/shape error must not be ErrUndefined", err)
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("err = %q, want it to mention %q", err, tc.errText)
			}
			if d.Allow {
				t.Error("allow on error")
			}
		})
	}
}

// slowPolicy allows, but only after ~10^7 steps of pointless work.
const slowPolicy = `package gateway.authz

r := numbers.range(1, 4000)

found if {
	some i in r
	some j in r
	i * j < 0
}

decision := {"allow": true, "reason": "slow"} if not found
`

func TestDecideTimeout(t *testing.T) {
	e := newEngine(t, Options{FS: policyFS(slowPolicy), Timeout: 20 * time.Millisecond})
	start := time.Now()
	d, err := e.Decide(t.Context(), &Input{Principal: root, Request: req("GET", "/")})
	took := time.Since(start)
	if err == nil || !errors.Is(err, ErrPolicy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrPolicy + DeadlineExceeded", err)
	}
	if d.Allow {
		t.Fatal("allowed on timeout")
	}
	if took > 5*time.Second {
		t.Errorf("Decide took %v with a 20ms budget", took)
	}

	// A caller's cancelled context fails closed too.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d, err := e.Decide(ctx, &Input{Principal: root, Request: req("GET", "/")}); !errors.Is(err, ErrPolicy) || d.Allow {
		t.Fatalf("cancelled: %+v, %v", d, err)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []string // substrings of the error
	}{
		{"nil FS", Options{}, []string{"FS is nil"}},
		{"no rego files", Options{FS: fstest.MapFS{"data.yaml": file("a: 1\n")}}, []string{"no .rego files"}},
		{
			"parse error names file and line",
			Options{FS: policyFS("package gateway.authz\n\ndecision := {\"allow\" true}\n"), Source: "testdir"},
			[]string{"testdir", "policy.rego:3", "rego_parse_error"},
		},
		{
			"strict mode: unused local",
			Options{FS: policyFS("package gateway.authz\n\ndecision := true if {\n\tx := 1\n}\n")},
			[]string{"policy.rego:4", "assigned var x unused"},
		},
		{
			"type error names file and line",
			Options{FS: policyFS("package gateway.authz\n\ndecision := true if {\n\tcount(1) > 0\n}\n")},
			[]string{"policy.rego:4", "rego_type_error"},
		},
		{
			"bad yaml",
			Options{FS: fstest.MapFS{"policy.rego": file("package gateway.authz\n\ndecision := true\n"), "data.yaml": file("a: [1,\n")}},
			[]string{"data.yaml"},
		},
		{
			"query has no rule",
			Options{FS: policyFS("package gateway.other\n\ndecision := true\n")},
			[]string{"no rule defines data.gateway.authz.decision"},
		},
		{
			"query is not a data reference",
			Options{FS: policyFS("package gateway.authz\n\ndecision := true\n"), Query: "1 + 1"},
			[]string{"must be a reference into data"},
		},
		{
			"config_errors not empty",
			Options{FS: fstest.MapFS{
				"authz.rego":  file(mustRead(t, "authz.rego")),
				"django.rego": file(mustRead(t, "django.rego")),
				"data.yaml": file("gateway:\n  routes:\n" +
					"    - path: /\n      public: true\n" +
					"    - prefix: /x/\n      methods: [get]\n      permission: nope\n"),
			}},
			[]string{
				"config_errors reports 2 problem(s)",
				"route 1: malformed permission nope",
				"route 1: method get must be an upper-case HTTP method",
			},
		},
		{
			"config_errors of the wrong type",
			Options{FS: policyFS("package gateway.authz\n\ndecision := true\n\nconfig_errors := 3\n")},
			[]string{"must be a set of strings"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet
			e, err := New(t.Context(), tc.opts)
			if err == nil {
				t.Fatalf("New succeeded (revision %s)", e.Revision())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	decide := func(e *Engine) Decision {
		t.Helper()
		d, err := e.Decide(t.Context(), &Input{Principal: bob, Request: req("GET", "/")})
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		return d
	}

	write("package gateway.authz\n\ndecision := {\"allow\": false, \"reason\": \"v1\"}\n")
	e := newEngine(t, Options{FS: os.DirFS(dir), Source: dir})
	rev1 := e.Revision()
	if len(rev1) != 12 {
		t.Errorf("revision %q: want 12 hex digits", rev1)
	}
	if d := decide(e); d.Reason != "v1" {
		t.Fatalf("got %+v", d)
	}

	// Reloading an unchanged tree keeps the revision.
	if err := e.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != rev1 {
		t.Errorf("revision changed without a change: %s -> %s", rev1, e.Revision())
	}

	broken := []struct {
		name, content, want string
	}{
		{"syntax error", "package gateway.authz\n\ndecision := {\"allow\" true}\n", "authz.rego:3"},
		{"strict error", "package gateway.authz\n\nimport data.unused\n\ndecision := true\n", "authz.rego:3"},
		{"decision missing", "package gateway.authz\n\nallow := true\n", "no rule defines"},
		{"config errors", "package gateway.authz\n\ndecision := true\n\nconfig_errors contains \"route 0: bad\"\n", "route 0: bad"},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			write(b.content)
			err := e.Reload(t.Context())
			if err == nil {
				t.Fatal("Reload succeeded")
			}
			if !strings.Contains(err.Error(), b.want) {
				t.Errorf("error %q does not mention %q", err, b.want)
			}
			if d := decide(e); d.Allow || d.Reason != "v1" {
				t.Errorf("after a failed reload: %+v, want the v1 policy", d)
			}
			if e.Revision() != rev1 {
				t.Errorf("revision changed on a failed reload")
			}
		})
	}

	write("package gateway.authz\n\ndecision := {\"allow\": true, \"reason\": \"v2\"}\n")
	if err := e.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := decide(e); !d.Allow || d.Reason != "v2" {
		t.Fatalf("after reload: %+v", d)
	}
	if e.Revision() == rev1 {
		t.Error("revision unchanged after a policy change")
	}
}

// Decisions keep flowing, from the old or the new policy and never an
// error, while reloads swap policies underneath (run with -race).
func TestReloadConcurrentDecide(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authz.rego")
	policy := func(n int) []byte {
		return fmt.Appendf(nil, "package gateway.authz\n\ndecision := {\"allow\": true, \"reason\": \"v%d\"}\n", n)
	}
	if err := os.WriteFile(path, policy(0), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{FS: os.DirFS(dir)})

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := e.Decide(context.Background(), &Input{Principal: alice, Request: req("GET", "/x")})
				if err != nil || !d.Allow || !strings.HasPrefix(d.Reason, "v") {
					t.Errorf("Decide during reload: %+v, %v", d, err)
					return
				}
			}
		})
	}
	for i := 1; i <= 5; i++ {
		if err := os.WriteFile(path, policy(i), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := e.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	d, err := e.Decide(t.Context(), &Input{Principal: alice, Request: req("GET", "/x")})
	if err != nil || d.Reason != "v5" {
		t.Fatalf("final: %+v, %v", d, err)
	}
}

// The data document a policy sees doesn't depend on how it was loaded.
func TestDataFilesLoadedLikeTheCLI(t *testing.T) {
	fsys := fstest.MapFS{
		"policy.rego":       file("package gateway.authz\n\ndecision := {\"allow\": true, \"reason\": concat(\",\", [data.a, data.b, data.sub.c, data.gateway.d])}\n"),
		"data.json":         file(`{"a": "json"}`),
		"other.yaml":        file("b: yaml\n"),
		"sub/anything.json": file(`{"c": "nested"}`),
		"gateway/data.yml":  file("d: yml\n"),
		"README.md":         file("# not data\n"),
		"policy_test.rego":  file("package gateway.authz_test\n\ntest_x if false\n"),
	}
	e := newEngine(t, Options{FS: fsys})
	d, err := e.Decide(t.Context(), &Input{Request: req("GET", "/")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Reason != "json,yaml,nested,yml" {
		t.Errorf("reason = %q", d.Reason)
	}
}

// Rego print() output goes to the logger at debug level.
func TestPrintGoesToLogger(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, Options{
		FS:     policyFS("package gateway.authz\n\ndecision := true if {\n\tprint(\"path is\", input.request.path)\n}\n"),
		Logger: logger,
	})
	if _, err := e.Decide(t.Context(), &Input{Request: req("GET", "/hello")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "path is /hello") {
		t.Errorf("log = %q", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

func TestDecideRejectsInvalidInput(t *testing.T) {
	e := newEngine(t, Options{FS: policyFS("package gateway.authz\n\ndecision := true\n")})
	for name, in := range map[string]*Input{
		"nil input":          nil,
		"bad percent-escape": {Request: req("GET", "/a%zz")},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := e.Decide(t.Context(), in)
			if !errors.Is(err, ErrInvalidInput) || d.Allow {
				t.Fatalf("got %+v, %v; want ErrInvalidInput", d, err)
			}
		})
	}
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
