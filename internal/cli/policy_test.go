package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
)

// copyPolicies copies the repository's policies/ into the test's
// directory as policies/ and returns its path.
func copyPolicies(t *testing.T, e *testEnv) string {
	t.Helper()
	dst := filepath.Join(e.dir, "policies")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "..", "policies"))); err != nil {
		t.Fatalf("copy policies: %v", err)
	}
	return dst
}

func policyUsers(t *testing.T, e *testEnv) {
	t.Helper()
	e.mustCreateUser(t, "alice", pwOld, nil)
	e.mustGrantUser(t, "alice", "blog.delete_post")
	e.mustCreateUser(t, "bob", pwOther, nil)
	e.mustCreateUser(t, "carol", pwNew, func(u *authn.User) { u.IsActive = false })
	e.mustGrantUser(t, "carol", "blog.delete_post")
}

// regoLine is "authz.rego:N" for the first line of the shipped policy that
// starts with prefix, so the tests follow edits to the policy.
func regoLine(t *testing.T, prefix string) string {
	t.Helper()
	src, err := os.ReadFile("../../policies/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, prefix) {
			return fmt.Sprintf("authz.rego:%d", i+1)
		}
	}
	t.Fatalf("policies/authz.rego has no line starting with %q", prefix)
	return ""
}

func TestPolicyEval(t *testing.T) {
	fastPath := `route_decision := {"allow": true, "reason": concat("", [info.label, required.has])} if {`
	permRule := regoLine(t, fastPath)
	routeRule := regoLine(t, "route_index := min(matching_routes)")
	prefixRule := regoLine(t, "\tstartswith(input.request.path, r.prefix)")
	del := []string{"policy", "eval", "--method", "DELETE", "--path", "/api/blog/post/3/"}
	args := func(extra ...string) []string { return append(append([]string(nil), del...), extra...) }
	runCases(t, []cliCase{
		{
			name: "allowed user", setup: policyUsers,
			invocation: invoke(args("--user", "alice")...), wantCode: 0,
			wantStdout: []string{"user:      alice", "decision:  allow: route 7 (prefix /api/blog/post/): has blog.delete_post",
				"answer:    forward to upstream upstream0", "matched rules:", routeRule + "  route_index := min(matching_routes)", permRule + "  " + fastPath},
		},
		{
			name: "denied user", setup: policyUsers,
			invocation: invoke(args("--user", "bob")...), wantCode: 0,
			wantStdout: []string{"decision:  deny: route 7 (prefix /api/blog/post/): missing permission blog.delete_post", "answer:    403 Forbidden"},
		},
		{
			name: "inactive user is anonymous", setup: policyUsers,
			invocation: invoke(args("--user", "carol")...), wantCode: 0,
			wantStdout: []string{"user:      anonymous", `user "carol" is inactive`, "decision:  deny", "answer:    401 Unauthorized"},
		},
		{
			name:       "anonymous browser is sent to login",
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/account/", "--query", "a=1", "--header", "Accept: text/html"),
			wantStdout: []string{"decision:  deny: route 3 (prefix /account/): login required", "answer:    302 Found to /_gateway/login?next=%2Faccount%2F%3Fa%3D1"},
		},
		{
			name:       "anonymous public page",
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/static/app.css"),
			wantStdout: []string{"decision:  allow: route 1 (prefix /static/): public", "answer:    forward"},
		},
		{
			name: "anonymous needs no redis",
			setup: func(t *testing.T, e *testEnv) {
				e.writeFile(t, "config.yaml", validConfig("127.0.0.1:1"))
			},
			invocation: invoke("policy", "eval", "--anonymous", "--method", "DELETE", "--path", "/api/blog/post/3/"),
			wantStdout: []string{"decision:  deny", "answer:    401 Unauthorized"},
		},
		{
			name:       "rejected path",
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/api/%2F/x"),
			wantCode:   1, wantEmptyStdout: true,
			wantStderr: []string{"400 Bad Request", "encoded slash"},
		},
		{
			name: "unknown user", setup: policyUsers,
			invocation: invoke(args("--user", "nobody")...), wantCode: 1,
			wantStderr: []string{`user "nobody"`},
		},
		{
			name:       "user and anonymous together",
			invocation: invoke(args("--user", "alice", "--anonymous")...), wantCode: 2,
			wantStderr: []string{"exactly one of --user U and --anonymous"},
		},
		{
			name: "explain full names the matching route rule", setup: policyUsers,
			invocation: invoke(args("--user", "alice", "--explain", "full")...),
			wantStdout: []string{"explain (full):", prefixRule, "Enter data.gateway.authz.route_index", "Exit data.gateway.authz.decision"},
		},
		{
			name: "explain fails shows failed matches", setup: policyUsers,
			invocation: invoke(args("--user", "bob", "--explain", "fails")...),
			wantStdout: []string{"explain (fails):", "Fail"},
		},
		{
			name:       "bad explain mode",
			invocation: invoke(args("--anonymous", "--explain", "everything")...), wantCode: 2,
		},
		{
			name: "json", setup: policyUsers,
			invocation: invoke(args("--user", "alice", "--json")...),
			check: func(t *testing.T, _ *testEnv, r result) {
				var out struct {
					Decision struct {
						Allow  bool
						Reason string
					}
					Answer string
					Input  struct {
						User struct {
							Username    string
							Permissions []string
						}
						Request struct{ Method, Path, Upstream string }
					}
					MatchedRules []struct{ Location, Rule string } `json:"matched_rules"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
					t.Fatalf("stdout is not JSON: %v\n%s", err, r)
				}
				if !out.Decision.Allow || out.Input.User.Username != "alice" || out.Input.Request.Method != "DELETE" ||
					out.Input.Request.Path != "/api/blog/post/3/" || out.Input.Request.Upstream != "upstream0" || len(out.MatchedRules) == 0 {
					t.Errorf("unexpected JSON: %+v", out)
				}
			},
		},
		{
			name: "policy dir from config",
			setup: func(t *testing.T, e *testEnv) {
				dir := copyPolicies(t, e)
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"policy:\n  dir: "+dir+"\n")
			},
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/"),
			wantStdout: []string{"policy:    @DIR/policies", "decision:  allow: route 0"},
		},
	})
}

func TestPolicyTest(t *testing.T) {
	failing := func(t *testing.T, e *testEnv) {
		copyPolicies(t, e)
		e.writeFile(t, "policies/zz_test.rego", "package gateway.authz_test\n\ntest_deliberately_fails if {\n\t1 == 2\n}\n")
	}
	runCases(t, []cliCase{
		{
			name:       "copy of the policies passes",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "test", "@DIR/policies"),
			wantStdout: []string{"PASS: "},
		},
		{
			name:       "verbose lists the tests",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "test", "@DIR/policies", "--verbose"),
			wantStdout: []string{"authz_test.rego:", "PASS"},
		},
		{
			name:       "failing test exits 1 naming it",
			setup:      failing,
			invocation: invoke("policy", "test", "@DIR/policies"), wantCode: 1,
			wantStdout: []string{"FAIL", "test_deliberately_fails"},
			wantStderr: []string{"1 of"},
		},
		{
			name:       "coverage prints percentages",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "test", "@DIR/policies", "--coverage"),
			wantStdout: []string{"Coverage:", "authz.rego", "django.rego", "%", "total"},
		},
		{
			name: "directory from config",
			setup: func(t *testing.T, e *testEnv) {
				failing(t, e)
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"policy:\n  dir: "+filepath.Join(e.dir, "policies")+"\n")
			},
			invocation: invoke("policy", "test"), wantCode: 1,
			wantStdout: []string{"test_deliberately_fails"},
		},
		{
			name:       "missing directory",
			invocation: invoke("policy", "test", "@DIR/nope"), wantCode: 1,
			wantStderr: []string{"policy directory"},
		},
		{
			name: "directory without tests",
			setup: func(t *testing.T, e *testEnv) {
				e.writeFile(t, "p.rego", "package x\n\nallow := true\n")
			},
			invocation: invoke("policy", "test", "@DIR"), wantCode: 1,
			wantStderr: []string{"no tests found"},
		},
	})
}

// buildBundle runs `gateway policy build` on the test's copy of the
// policies, writing @DIR/policy.tar.gz with revision rev.
func buildBundle(t *testing.T, e *testEnv, rev string) string {
	t.Helper()
	dir := copyPolicies(t, e)
	out := filepath.Join(e.dir, "policy.tar.gz")
	if r := e.run(t, invoke("policy", "build", "--dir", dir, "-o", out, "--revision", rev)); r.code != 0 {
		t.Fatalf("policy build:\n%s", r)
	}
	return out
}

// brokenPolicies is a copy of the policies with an error only the
// gateway's strict compile (opa check --strict) reports, in zz.rego.
func brokenPolicies(t *testing.T, e *testEnv) {
	copyPolicies(t, e)
	e.writeFile(t, "policies/zz.rego", "package gateway.authz\n\nzz if {\n\tx := 1\n\ttrue\n}\n")
}

func TestPolicyBuild(t *testing.T) {
	fileIs := func(name, want string) func(t *testing.T, e *testEnv, r result) {
		return func(t *testing.T, e *testEnv, r result) {
			b, err := os.ReadFile(filepath.Join(e.dir, name))
			if err != nil || string(b) != want {
				t.Errorf("%s = %q, %v; want %q (left as it was)", name, b, err, want)
			}
		}
	}
	runCases(t, []cliCase{
		{
			name:       "writes a bundle",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/out.tar.gz", "--revision", "v1"),
			wantStdout: []string{"@DIR/out.tar.gz: bundle of @DIR/policies written (revision v1)"},
			check: func(t *testing.T, e *testEnv, _ result) {
				entries, _ := os.ReadDir(e.dir)
				for _, de := range entries {
					if strings.Contains(de.Name(), ".tmp-") {
						t.Errorf("temporary file %s left behind", de.Name())
					}
				}
			},
		},
		{
			name: "directory from config, revision from the contents",
			setup: func(t *testing.T, e *testEnv) {
				dir := copyPolicies(t, e)
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"policy:\n  dir: "+dir+"\n")
			},
			invocation: invoke("policy", "build", "--output", "@DIR/out.tar.gz"),
			wantStdout: []string{"@DIR/out.tar.gz: bundle of @DIR/policies written (revision "},
		},
		{
			name: "policy the gateway would refuse is not written",
			setup: func(t *testing.T, e *testEnv) {
				brokenPolicies(t, e)
				e.writeFile(t, "out.tar.gz", "previous bundle")
			},
			invocation: invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/out.tar.gz"), wantCode: 1,
			wantStderr: []string{"the gateway would refuse this policy", "out.tar.gz not written", "zz.rego:4", "assigned var x unused"},
			check:      fileIs("out.tar.gz", "previous bundle"),
		},
		{
			name: "type error names the file",
			setup: func(t *testing.T, e *testEnv) {
				copyPolicies(t, e)
				e.writeFile(t, "policies/zz.rego", "package gateway.authz\n\nzz := no_such_function(1)\n")
			},
			invocation: invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/out.tar.gz"), wantCode: 1,
			wantStderr: []string{"@DIR/policies", "zz.rego:3", "no_such_function"},
		},
		{
			name: "syntax error names the file",
			setup: func(t *testing.T, e *testEnv) {
				copyPolicies(t, e)
				e.writeFile(t, "policies/zz.rego", "package gateway.authz\n\nzz := {\n")
			},
			invocation: invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/out.tar.gz"), wantCode: 1,
			wantStderr: []string{"@DIR/policies", "zz.rego:", "rego_parse_error"},
			check: func(t *testing.T, e *testEnv, _ result) {
				if _, err := os.Stat(filepath.Join(e.dir, "out.tar.gz")); err == nil {
					t.Error("out.tar.gz written")
				}
			},
		},
		{
			name:       "output inside the policy directory",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/policies/out.tar.gz"), wantCode: 2,
			wantStderr: []string{"inside the policy directory"},
		},
		{
			name:       "output required",
			invocation: invoke("policy", "build", "--dir", "@DIR"), wantCode: 2,
			wantStderr: []string{"-o FILE is required"},
		},
		{
			name:       "missing directory",
			invocation: invoke("policy", "build", "--dir", "@DIR/nope", "-o", "@DIR/out.tar.gz"), wantCode: 1,
			wantStderr: []string{"policy directory"},
		},
		{
			name:       "listed in help",
			invocation: invoke("policy", "help"),
			wantStdout: []string{"gateway policy build [--dir DIR] -o FILE.tar.gz", "--bundle PATH"},
		},
	})
}

func TestPolicyEvalBundle(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:       "built bundle",
			setup:      func(t *testing.T, e *testEnv) { buildBundle(t, e, "v1") },
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/static/app.css", "--bundle", "@DIR/policy.tar.gz"),
			wantStdout: []string{"policy:    @DIR/policy.tar.gz (revision v1)", "decision:  allow: route 1 (prefix /static/): public"},
		},
		{
			name:       "built bundle with the route table",
			setup:      func(t *testing.T, e *testEnv) { buildBundle(t, e, "v1") },
			invocation: invoke("policy", "eval", "--anonymous", "--method", "DELETE", "--path", "/api/blog/post/3/", "--bundle", "@DIR/policy.tar.gz"),
			wantStdout: []string{"decision:  deny: route 7 (prefix /api/blog/post/): login required", "answer:    401 Unauthorized"},
		},
		{
			name: "policy.bundle from config",
			setup: func(t *testing.T, e *testEnv) {
				out := buildBundle(t, e, "from-config")
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"policy:\n  bundle: "+out+"\n")
			},
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/account/"),
			wantStdout: []string{"policy:    @DIR/policy.tar.gz (revision from-config)", "decision:  deny: route 3 (prefix /account/): login required"},
		},
		{
			name:       "--dir",
			setup:      func(t *testing.T, e *testEnv) { copyPolicies(t, e) },
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/", "--dir", "@DIR/policies"),
			wantStdout: []string{"policy:    @DIR/policies", "decision:  allow: route 0"},
		},
		{
			name:       "corrupt bundle",
			setup:      func(t *testing.T, e *testEnv) { e.writeFile(t, "policy.tar.gz", "not a bundle") },
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/", "--bundle", "@DIR/policy.tar.gz"), wantCode: 1,
			wantStderr: []string{"@DIR/policy.tar.gz", "gzip"},
		},
		{
			name:       "--dir and --bundle together",
			invocation: invoke("policy", "eval", "--anonymous", "--path", "/", "--dir", "@DIR", "--bundle", "@DIR/b.tar.gz"), wantCode: 2,
			wantStderr: []string{"at most one of --dir and --bundle"},
		},
	})
}

func TestPolicyTestBundle(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:       "built bundle passes",
			setup:      func(t *testing.T, e *testEnv) { buildBundle(t, e, "v1") },
			invocation: invoke("policy", "test", "--bundle", "@DIR/policy.tar.gz"),
			wantStdout: []string{"PASS: "},
		},
		{
			name:       "coverage",
			setup:      func(t *testing.T, e *testEnv) { buildBundle(t, e, "v1") },
			invocation: invoke("policy", "test", "--bundle", "@DIR/policy.tar.gz", "--coverage"),
			wantStdout: []string{"Coverage:", "authz.rego", "total"},
		},
		{
			name: "failing test in the bundle",
			setup: func(t *testing.T, e *testEnv) {
				copyPolicies(t, e)
				e.writeFile(t, "policies/zz_test.rego", "package gateway.authz_test\n\ntest_deliberately_fails if {\n\t1 == 2\n}\n")
				if r := e.run(t, invoke("policy", "build", "--dir", "@DIR/policies", "-o", "@DIR/policy.tar.gz")); r.code != 0 {
					t.Fatalf("policy build:\n%s", r)
				}
			},
			invocation: invoke("policy", "test", "--bundle", "@DIR/policy.tar.gz"), wantCode: 1,
			wantStdout: []string{"FAIL", "test_deliberately_fails"},
		},
		{
			name: "policy.bundle from config",
			setup: func(t *testing.T, e *testEnv) {
				// A ./policies that passes must not be what runs.
				copyPolicies(t, e)
				if err := os.Mkdir(filepath.Join(e.dir, "bundle-src"), 0o755); err != nil {
					t.Fatal(err)
				}
				e.writeFile(t, "bundle-src/p.rego", "package x\n\nallow := true\n")
				e.writeFile(t, "bundle-src/p_test.rego", "package x_test\n\nimport data.x\n\ntest_from_the_bundle if not x.allow\n")
				out := filepath.Join(e.dir, "policy.tar.gz")
				f, err := os.Create(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := authz.BuildBundle(context.Background(), filepath.Join(e.dir, "bundle-src"), f, "v1"); err != nil {
					t.Fatal(err)
				}
				e.writeFile(t, "config.yaml", validConfig(e.srv.Addr())+"policy:\n  bundle: "+out+"\n")
			},
			invocation: invoke("policy", "test"), wantCode: 1,
			wantStdout: []string{"test_from_the_bundle", "FAIL"},
		},
		{
			name:       "directory and --bundle together",
			invocation: invoke("policy", "test", "@DIR", "--bundle", "@DIR/b.tar.gz"), wantCode: 2,
		},
		{
			name:       "missing bundle",
			invocation: invoke("policy", "test", "--bundle", "@DIR/nope.tar.gz"), wantCode: 1,
			wantStderr: []string{"@DIR/nope.tar.gz"},
		},
	})
}

// TestServePolicyBundle runs `gateway serve` with policy.bundle set to a
// .tar.gz built by `gateway policy build`: /healthz shows the bundle's
// revision; rebuilding the bundle in place (policy build writes a
// temporary file and renames it) reloads it; a corrupt replacement is
// rejected and shown as last_reload_error while the previous revision
// keeps serving; with Redis stopped /healthz answers 503.
func TestServePolicyBundle(t *testing.T) {
	e := newTestEnv(t)
	out := buildBundle(t, e, "v1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--config", e.cfgPath}, IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: stderr,
			Environ: []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_LISTEN=" + addr, "GATEWAY_POLICY_BUNDLE=" + out, "GATEWAY_SESSION_SECURE=false"},
		})
	}()

	type health struct {
		Status string
		Redis  struct {
			OK    bool
			Error string
		}
		Policy struct {
			Revision        string
			LoadedAt        string `json:"loaded_at"`
			LastReloadError string `json:"last_reload_error"`
		}
	}
	get := func() (int, health) {
		var h health
		resp, err := http.Get("http://" + addr + "/_gateway/healthz")
		if err != nil {
			return 0, h
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return resp.StatusCode, h
	}
	waitFor := func(what string, cond func(int, health) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if cond(get()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		code, h := get()
		t.Fatalf("%s: /healthz answers %d %+v\nlog:\n%s", what, code, h, stderr.String())
	}

	waitFor("started with revision v1", func(code int, h health) bool {
		return code == http.StatusOK && h.Status == "ok" && h.Redis.OK && h.Policy.Revision == "v1" && h.Policy.LoadedAt != ""
	})
	if !strings.Contains(stderr.String(), "watching policy bundle") {
		t.Errorf("bundle not watched:\n%s", stderr.String())
	}

	if r := e.run(t, invoke("policy", "build", "--dir", "@DIR/policies", "-o", out, "--revision", "v2")); r.code != 0 {
		t.Fatalf("policy build v2:\n%s", r)
	}
	waitFor("reloaded to v2", func(code int, h health) bool { return h.Policy.Revision == "v2" && h.Policy.LastReloadError == "" })

	tmp := out + ".new"
	if err := os.WriteFile(tmp, []byte("not a bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	waitFor("corrupt bundle rejected", func(code int, h health) bool {
		return code == http.StatusOK && h.Policy.Revision == "v2" && strings.Contains(h.Policy.LastReloadError, out)
	})

	e.srv.Stop()
	waitFor("503 with redis down", func(code int, h health) bool {
		return code == http.StatusServiceUnavailable && h.Status == "unavailable" && !h.Redis.OK && h.Redis.Error != ""
	})

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}
