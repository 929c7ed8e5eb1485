package authz

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/policies"
)

// equivalencePrincipals covers every standing and a spread of groups and
// permissions of the scale workload.
func equivalencePrincipals() []*authn.Principal {
	active := scalePrincipal()
	super := scalePrincipal()
	super.User = &authn.User{ID: 2, Username: "root", IsActive: true, IsSuperuser: true, IsStaff: true}
	inactive := scalePrincipal()
	inactive.User = &authn.User{ID: 3, Username: "gone", IsActive: false}
	inactive.Permissions = []string{}
	staff := &authn.Principal{
		User:        &authn.User{ID: 4, Username: "staff", IsActive: true, IsStaff: true},
		Groups:      []string{"editors", "group2", "group6"},
		Permissions: []string{"blog.change_post", "blog.view_post", "reports.view_report", "app2.change_m502", "app6.custom_m506"},
	}
	author := &authn.Principal{
		User:        &authn.User{ID: 5, Username: "alice", IsActive: true},
		Permissions: []string{},
	}
	return []*authn.Principal{nil, active, super, inactive, staff, author}
}

// samplePaths derives paths around each route's matcher: on it, below it,
// beside it, and a shorter prefix, plus odd ones.
func samplePaths(routes []map[string]any, rng *rand.Rand) []string {
	paths := []string{"/", "/x", "/nowhere/", "/api/", "/api/blog/post/3/", "/api/blog/post/5/", "/api/blog/post/03/"}
	for _, r := range routes {
		switch {
		case r["path"] != nil:
			p := r["path"].(string)
			paths = append(paths, p, p+"/", p+"x", strings.TrimSuffix(p, "/"))
		case r["prefix"] != nil:
			p := r["prefix"].(string)
			paths = append(paths, p, p+"x", p+"a/b/", strings.TrimSuffix(p, "/"), p[:len(p)/2])
		case r["glob"] != nil:
			g := r["glob"].(string)
			paths = append(paths, strings.ReplaceAll(g, "*", "seg"), strings.ReplaceAll(g, "*", "a/b"), strings.ReplaceAll(g, "*", ""))
		}
	}
	rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths
}

// TestPrecomputeEquivalence: the precomputed policy (data-only rules
// served as constants, route matching partially evaluated into indexed
// rules) decides exactly like the policy as written, on the shipped route
// table and on the 1,000-route scale table.
func TestPrecomputeEquivalence(t *testing.T) {
	// The shipped table's matchers (policies/data.yaml).
	shippedRoutes := func() []map[string]any {
		return []map[string]any{
			{"path": "/"}, {"prefix": "/static/"}, {"prefix": "/public/"}, {"prefix": "/account/"},
			{"prefix": "/reports/"}, {"prefix": "/editors/"}, {"prefix": "/admin/"}, {"prefix": "/api/blog/post/"}, {"prefix": "/"},
		}
	}
	scaleRoutes := func() []map[string]any {
		var rs []map[string]any
		for i := range scaleRoutes - 1 {
			rs = append(rs, scaleRoute(i))
		}
		return rs
	}
	cases := []struct {
		name   string
		fsys   func(testing.TB) fs.FS
		routes []map[string]any
		sample int // requests checked (all when 0)
	}{
		{"shipped policy", func(testing.TB) fs.FS { return policies.FS }, shippedRoutes(), 0},
		{"scale workload", scalePolicy, scaleRoutes(), 300}, // the policy as written takes ~20 ms a decision here
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fast := newEngine(t, Options{FS: tc.fsys(t)})
			plain := newEngine(t, Options{FS: tc.fsys(t), noPrecompute: true})
			rng := rand.New(rand.NewPCG(1, 2))
			paths := samplePaths(tc.routes, rng)
			users := equivalencePrincipals()
			n, allowed := 0, 0
			for _, path := range paths {
				for _, m := range methods {
					if tc.sample > 0 && rng.IntN(len(paths)*len(methods)) >= tc.sample {
						continue
					}
					p := users[rng.IntN(len(users))]
					req := benchRequest()
					req.Method, req.Path = m, path
					in := &Input{Principal: p, Request: req}
					want, werr := plain.Decide(ctx, in)
					got, gerr := fast.Decide(ctx, in)
					if (werr == nil) != (gerr == nil) || got != want {
						t.Fatalf("%s %s as %v: precomputed %+v (%v), as written %+v (%v)", m, path, name(p), got, gerr, want, werr)
					}
					n++
					if got.Allow {
						allowed++
					}
				}
			}
			if n < 50 || allowed == 0 || allowed == n {
				t.Fatalf("weak sample: %d requests, %d allowed", n, allowed)
			}
			t.Logf("%d requests, %d allowed: identical decisions", n, allowed)
		})
	}
}

func name(p *authn.Principal) string {
	if p == nil {
		return "anonymous"
	}
	return p.User.Username
}

// TestPrecomputeServesConstant: a precomputed policy decides like the
// policy as written, and the multi-value rule really became one residual
// rule per data element.
func TestPrecomputeServesConstant(t *testing.T) {
	calls := `package gateway.authz

# METADATA
# custom:
#   precompute: true
table[k] := v if {
	some k, v in data.items
}

# METADATA
# custom:
#   precompute: true
hits contains k if {
	some k, v in data.items
	startswith(input.request.path, v)
}

decision := {"allow": count(hits) > 0, "reason": concat(",", sort([k | some k in hits]))}

size := count(table)
`
	fsys := fstest.MapFS{
		"p.rego":    file(calls),
		"data.json": file(`{"items": {"a": "/a/", "b": "/b/", "ab": "/a/b/"}}`),
	}
	e := newEngine(t, Options{FS: fsys})
	plain := newEngine(t, Options{FS: fsys, noPrecompute: true})
	for _, path := range []string{"/a/b/c", "/b/", "/c/"} {
		req := benchRequest()
		req.Path = path
		got, err := e.Decide(context.Background(), &Input{Request: req})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := plain.Decide(context.Background(), &Input{Request: req})
		if got != want {
			t.Errorf("%s: precomputed %+v, as written %+v", path, got, want)
		}
	}
	// table became a constant, hits one residual rule per item.
	got := map[string]string{}
	for _, pc := range e.current.Load().precomputed {
		if pc.value != nil {
			got[pc.path.String()] = "constant " + pc.value.String()
		} else {
			got[pc.path.String()] = fmt.Sprintf("%d rules", len(pc.rules))
		}
	}
	want := map[string]string{
		"data.gateway.authz.table": `constant {"a": "/a/", "ab": "/a/b/", "b": "/b/"}`,
		"data.gateway.authz.hits":  "3 rules",
	}
	if !maps.Equal(got, want) {
		t.Errorf("precomputed %v, want %v", got, want)
	}
}

func TestPrecomputeErrors(t *testing.T) {
	cases := []struct {
		name, rego, want string
	}{
		{"function", `package gateway.authz

# METADATA
# custom:
#   precompute: true
f(x) := x + 1

decision := {"allow": f(1) == 2}
`, "f is a function; only rules can be precomputed"},
		{"complete rule reading input", `package gateway.authz

# METADATA
# custom:
#   precompute: true
p := input.user.username

decision := {"allow": p == "a"}
`, "p is marked precompute and depends on input (input.user.username"},
		{"input through a helper", `package gateway.authz

# METADATA
# custom:
#   precompute: true
p := q

q := input.x

decision := {"allow": p == 1}
`, "depends on input (input.x"},
		{"another body of the document reads input", `package gateway.authz

# METADATA
# custom:
#   precompute: true
p := 1 if data.x == 1

p := 2 if input.y == 1

decision := {"allow": p == 1}
`, "p is marked precompute and depends on input (input.y"},
		{"undefined", `package gateway.authz

# METADATA
# custom:
#   precompute: true
p := data.missing

decision := {"allow": true}
`, "precomputing data.gateway.authz.p: the rule is undefined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Options{FS: fstest.MapFS{"p.rego": file(tc.rego)}, Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "p.rego:") {
				t.Errorf("error %q does not name the file and line", err)
			}
		})
	}
}
