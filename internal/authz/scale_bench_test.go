package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/djangate/gateway/internal/authn"
)

// The scale workload of issue 4: 1,000 route rules, 50 groups, 500
// permissions, a user in 5 groups. Routes mix the three matchers and the
// requirement kinds the way a large Django site does:
//
//	70% prefix /appA/mI/, 20% glob /api/appA/mI/*/edit/, 10% exact /appA/mI/export
//	methods: none, [GET, HEAD] or [GET, POST, PUT, PATCH, DELETE]
//	requirement: login, permission appA.custom_mI, group groupG, model appA.mI
//
// and the last route is a catch-all "prefix: /" that needs a login.
const (
	scaleRoutes = 1000
	scaleGroups = 50
	scaleApps   = 50
)

func scaleRoute(i int) map[string]any {
	app := i % scaleApps
	r := map[string]any{}
	switch i % 10 {
	case 7, 8:
		r["glob"] = fmt.Sprintf("/api/app%d/m%d/*/edit/", app, i)
	case 9:
		r["path"] = fmt.Sprintf("/app%d/m%d/export", app, i)
	default:
		r["prefix"] = fmt.Sprintf("/app%d/m%d/", app, i)
	}
	switch i % 3 {
	case 1:
		r["methods"] = []string{"GET", "HEAD"}
	case 2:
		r["methods"] = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	}
	switch i % 4 {
	case 0:
		r["login"] = true
	case 1:
		r["permission"] = fmt.Sprintf("app%d.custom_m%d", app, i)
	case 2:
		r["group"] = fmt.Sprintf("group%d", i%scaleGroups)
	case 3:
		r["model"] = fmt.Sprintf("app%d.m%d", app, i)
	}
	return r
}

// scalePolicy is the shipped policy (authz.rego, django.rego) over the
// scale route table.
func scalePolicy(tb testing.TB) fs.FS {
	tb.Helper()
	routes := make([]map[string]any, 0, scaleRoutes)
	for i := range scaleRoutes - 1 {
		routes = append(routes, scaleRoute(i))
	}
	routes = append(routes, map[string]any{"prefix": "/", "login": true})
	data, err := json.Marshal(map[string]any{"gateway": map[string]any{"routes": routes}})
	if err != nil {
		tb.Fatal(err)
	}
	return fstest.MapFS{
		"authz.rego":  file(mustRead(tb, "authz.rego")),
		"django.rego": file(mustRead(tb, "django.rego")),
		"data.json":   file(string(data)),
	}
}

// scaleGroupPermissions: 10 permissions per group, 500 in all; group g
// holds custom and change permissions of models m(500+g), m(550+g), ...,
// m(950+g) of app g.
func scaleGroupPermissions(g int) []string {
	var out []string
	for k := range 10 {
		i := g + scaleApps*(10+k)
		if k%2 == 0 {
			out = append(out, fmt.Sprintf("app%d.custom_m%d", g, i))
		} else {
			out = append(out, fmt.Sprintf("app%d.change_m%d", g, i))
		}
	}
	return out
}

// scalePrincipal is an active user in 5 of the 50 groups, with 10 direct
// permissions; its effective permissions are the union, computed once
// (as LoadPrincipal does) and passed to the policy as a set.
func scalePrincipal() *authn.Principal {
	u := &authn.User{ID: 7, Username: "alice", Email: "alice@example.com", IsActive: true}
	groups := []string{"group3", "group17", "group29", "group42", "group45"}
	var groupPerms []string
	for _, g := range []int{3, 17, 29, 42, 45} {
		groupPerms = append(groupPerms, scaleGroupPermissions(g)...)
	}
	var direct []string
	for k := range 10 {
		direct = append(direct, fmt.Sprintf("app%d.view_m%d", k, k))
	}
	return &authn.Principal{
		User:        u,
		Groups:      groups,
		Permissions: authn.EffectivePermissions(u, direct, groupPerms, nil),
		Backend:     "session",
	}
}

// scaleRequest: PUT on model route 995 (app45.m995, near the end of the
// table), allowed through group45's app45.change_m995.
func scaleRequest() Request {
	r := benchRequest()
	r.Method = "PUT"
	r.Path = "/app45/m995/123/"
	return r
}

func TestScaleWorkload(t *testing.T) {
	p := scalePrincipal()
	if !slices.Contains(p.Permissions, "app45.change_m995") {
		t.Fatalf("workload: principal lacks app45.change_m995: %v", p.Permissions)
	}
	e := newEngine(t, Options{FS: scalePolicy(t)})
	ctx := context.Background()
	cases := []struct {
		method, path string
		allow        bool
		reason       string
	}{
		{"PUT", "/app45/m995/123/", true, "route 995 (prefix /app45/m995/): has app45.change_m995"},
		{"DELETE", "/app45/m995/123/", false, "route 995 (prefix /app45/m995/): missing permission app45.delete_m995"},
		{"GET", "/api/app17/m17/5/edit/", false, "route 17 (glob /api/app17/m17/*/edit/): missing permission app17.custom_m17"},
		{"GET", "/app42/m42/x/", true, "route 42 (prefix /app42/m42/): member of group42"},
		{"GET", "/app19/m19/export", false, "route 19 (path /app19/m19/export): missing permission app19.view_m19"},
		{"POST", "/app19/m19/export", true, "route 999 (prefix /): logged in"}, // GET/HEAD only: falls through
		{"POST", "/app0/m0/x", true, "route 0 (prefix /app0/m0/): logged in"},
		{"PUT", "/app1/m1/x", true, "route 999 (prefix /): logged in"}, // route 1 is GET/HEAD only: falls through
		{"GET", "/nowhere/", true, "route 999 (prefix /): logged in"},
	}
	for _, tc := range cases {
		req := scaleRequest()
		req.Method, req.Path = tc.method, tc.path
		d, err := e.Decide(ctx, &Input{Principal: p, Request: req})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if d.Allow != tc.allow || d.Reason != tc.reason {
			t.Errorf("%s %s: got %+v, want allow=%v reason %q", tc.method, tc.path, d, tc.allow, tc.reason)
		}
	}
}

// BenchmarkDecideScale: one decision of the shipped policy over the scale
// workload (1,000 routes, 50 groups, 500 permissions, user in 5 groups).
func BenchmarkDecideScale(b *testing.B) {
	e := newEngine(b, Options{FS: scalePolicy(b)})
	benchDecide(b, e, &Input{Principal: scalePrincipal(), Request: scaleRequest()})
}

// BenchmarkDecideScaleAsWritten: the same decision without the precompute
// step, as `opa eval` would evaluate the policy: what precompute saves.
func BenchmarkDecideScaleAsWritten(b *testing.B) {
	e := newEngine(b, Options{FS: scalePolicy(b), noPrecompute: true})
	benchDecide(b, e, &Input{Principal: scalePrincipal(), Request: scaleRequest()})
}

// BenchmarkDecideScaleTrivial: `allow if input.user.is_active` on the same
// input; the baseline the scale decision is compared with.
func BenchmarkDecideScaleTrivial(b *testing.B) {
	e := newEngine(b, Options{
		FS:    fstest.MapFS{"trivial.rego": file("package gateway.authz\n\nallow if input.user.is_active\n")},
		Query: "data.gateway.authz.allow",
	})
	benchDecide(b, e, &Input{Principal: scalePrincipal(), Request: scaleRequest()})
}

// BenchmarkReloadScale: one reload (load, compile, config_errors,
// precompute, prepare) of the scale policy.
func BenchmarkReloadScale(b *testing.B) {
	e := newEngine(b, Options{FS: scalePolicy(b)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Reload(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/reload")
}
