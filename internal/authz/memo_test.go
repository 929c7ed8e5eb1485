package authz

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
	"github.com/djangate/gateway/policies"
)

func TestReadDeps(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		fields uint16
		hdrs   []string
		allHdr bool
		nondet string
	}{
		{"method and path", `allow if { input.request.method == "GET"; startswith(input.request.path, "/a/") }`, depMethod | depPath, nil, false, ""},
		{"derived fields share their source", `allow if { input.request.parsed_path[0] == "a"; input.request.port == "1"; input.request.parsed_query.x }`, depPath | depHost | depQuery, nil, false, ""},
		{"user only", `allow if input.user.is_active`, depUser, nil, false, ""},
		{"constant header", `allow if input.request.headers["X-Tenant"] == "a"`, 0, []string{"x-tenant"}, false, ""},
		{"header by variable", `allow if { some k; input.request.headers[k] == "a" }`, 0, nil, true, ""},
		{"headers object", `allow if count(input.request.headers) > 2`, 0, nil, true, ""},
		{"request object", `allow if count(input.request) > 2`, depAllRequest, nil, true, ""},
		{"whole input", `allow if count(input) > 1`, depAllRequest | depUser, nil, true, ""},
		{"input by variable", `allow if { some k; input[k].method == "GET" }`, depAllRequest | depUser, nil, true, ""},
		{"client ip and upstream", `allow if { net.cidr_contains("10.0.0.0/8", input.request.client_ip); input.request.upstream == "app" }`, depClientIP | depUpstream, nil, false, ""},
		{"unknown field adds nothing", `allow if input.request.nope == 1`, 0, nil, false, ""},
		{"time", `allow if time.now_ns() > 0`, 0, nil, false, "time.now_ns"},
		{"nested call", `allow if count([x | x := rand.intn("k", 10)]) > 0`, 0, nil, false, "rand.intn"},
		{"in a function", "f(x) := y if y := time.now_ns() + x\nallow if f(1) > 0", 0, nil, false, "time.now_ns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Options{
				FS:    policyFS("package gateway.authz\n\n" + tc.body + "\n"),
				Query: "data.gateway.authz.allow",
			})
			d := e.current.Load().deps
			if d.fields != tc.fields || !slices.Equal(d.headers, tc.hdrs) || d.allHeaders != tc.allHdr || d.nondeterministic != tc.nondet {
				t.Fatalf("deps = %+v, want fields %b headers %v all %v nondeterministic %q", d, tc.fields, tc.hdrs, tc.allHdr, tc.nondet)
			}
		})
	}
}

// TestMemoDecidesLikeEvaluation: with the memo on, every decision (the
// first of a kind evaluated, the repeats answered from the memo) equals
// the evaluated decision, on the shipped policy and the 1,000-route
// table, for users of every standing and requests that differ only in
// what the policy does not read.
func TestMemoDecidesLikeEvaluation(t *testing.T) {
	cases := []struct {
		name string
		fsys func(testing.TB) fs.FS
		n    int
	}{
		{"shipped policy", func(testing.TB) fs.FS { return policies.FS }, 3000},
		{"scale workload", scalePolicy, 1500},
	}
	ctx := context.Background()
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PROPFIND"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			memoized := newEngine(t, Options{FS: tc.fsys(t), MemoSize: 1000})
			plain := newEngine(t, Options{FS: tc.fsys(t)})
			if memoized.current.Load().memo == nil {
				t.Fatal("the shipped policy should be memoizable")
			}
			rng := rand.New(rand.NewPCG(3, 4))
			paths := []string{"/", "/public/x", "/reports/q1", "/editors/", "/admin/", "/api/blog/post/7/", "/api/blog/post/8/", "/app45/m995/123/", "/app2/m502/", "/nowhere/"}
			users := equivalencePrincipals()
			hits, allowed := 0, 0
			for i := range tc.n {
				req := benchRequest()
				req.Method, req.Path = methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))]
				req.Headers = req.Headers.Clone()
				req.Headers.Set("X-Request-Id", fmt.Sprint(i)) // not read by the policy
				req.ClientIP = fmt.Sprintf("192.0.2.%d", rng.IntN(250))
				in := &Input{Principal: users[rng.IntN(len(users))], Request: req}
				want, werr := plain.Decide(ctx, in)
				got, gerr := memoized.Decide(ctx, in)
				if got.Memoized {
					hits++
				}
				got.Memoized = false
				if (werr == nil) != (gerr == nil) || got != want {
					t.Fatalf("%s %s as %s: memo %+v (%v), evaluated %+v (%v)", req.Method, req.Path, name(in.Principal), got, gerr, want, werr)
				}
				if want.Allow {
					allowed++
				}
			}
			if hits < tc.n/2 || allowed == 0 || allowed == tc.n {
				t.Fatalf("weak sample: %d decisions, %d from the memo, %d allowed", tc.n, hits, allowed)
			}
			t.Logf("%d decisions (%d from the memo, %d allowed): identical", tc.n, hits, allowed)
		})
	}
}

// TestMemoKeyCoversUser: every field of authn.User and authn.Principal
// that changes input.user changes the memo key. A field added to the
// input without being added to appendUser fails here.
func TestMemoKeyCoversUser(t *testing.T) {
	deps := inputDeps{fields: depUser}
	m := newMemo(deps, 10)
	base := func() *authn.Principal {
		return &authn.Principal{
			User: &authn.User{ID: 7, Username: "u", Email: "e@x", FirstName: "f", LastName: "l",
				Password: "pw", IsActive: true, DateJoined: time.Unix(1, 0), AuthSecret: "s"},
			Groups: []string{"g"}, Permissions: []string{"a.b"}, Backend: "session",
		}
	}
	userTerm := func(p *authn.Principal) string { return buildUser(newTerms(0), p).String() }
	keyOf := func(p *authn.Principal) memoKey { return m.key(&Input{Principal: p}) }
	b := base()
	baseTerm, baseKey := userTerm(b), keyOf(b)
	if keyOf(nil) == baseKey || keyOf(authn.Anonymous) != keyOf(nil) {
		t.Fatal("anonymous and authenticated keys must differ, anonymous keys must agree")
	}
	mutate := func(v reflect.Value) bool {
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "!")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Slice:
			if v.Type().Elem().Kind() != reflect.String {
				return false
			}
			v.Set(reflect.Append(v, reflect.ValueOf("extra")))
		case reflect.Map:
			if v.Type() != reflect.TypeOf(profile.Values{}) {
				return false
			}
			m := profile.Values{"dept": "sales", "n": int64(3), "ok": true, "tags": []string{"a"}, "at": time.Unix(5, 0)}
			for k, x := range v.Interface().(profile.Values) {
				m[k] = x
			}
			m["dept"] = "other"
			v.Set(reflect.ValueOf(m))
		case reflect.Struct:
			if v.Type() != reflect.TypeOf(time.Time{}) {
				return false
			}
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
		default:
			return false
		}
		return true
	}
	check := func(field string, p *authn.Principal) {
		termChanged := userTerm(p) != baseTerm
		keyChanged := keyOf(p) != baseKey
		if termChanged && !keyChanged {
			t.Errorf("%s changes input.user but not the memo key: add it to appendUser", field)
		}
	}
	ut := reflect.TypeOf(authn.User{})
	for i := range ut.NumField() {
		p := base()
		if !mutate(reflect.ValueOf(p.User).Elem().Field(i)) {
			t.Fatalf("User.%s has a type this test cannot vary (%s): teach it", ut.Field(i).Name, ut.Field(i).Type)
		}
		check("User."+ut.Field(i).Name, p)
	}
	// Each kind of profile value, changed on its own.
	for name, v := range map[string]any{"dept": "x", "n": int64(1), "ok": true, "tags": []string{"a"}, "at": time.Unix(1, 0)} {
		p, q := base(), base()
		p.Profile = profile.Values{name: v}
		switch v := v.(type) {
		case string:
			q.Profile = profile.Values{name: v + "!"}
		case int64:
			q.Profile = profile.Values{name: v + 1}
		case bool:
			q.Profile = profile.Values{name: !v}
		case []string:
			q.Profile = profile.Values{name: append(v, "b")}
		case time.Time:
			q.Profile = profile.Values{name: v.Add(time.Second)}
		}
		if userTerm(p) == userTerm(q) {
			t.Fatalf("profile %s: the test's two values build the same input", name)
		}
		if keyOf(p) == keyOf(q) {
			t.Errorf("profile %s of type %T changes input.user but not the memo key", name, v)
		}
	}
	pt := reflect.TypeOf(authn.Principal{})
	for i := range pt.NumField() {
		if pt.Field(i).Name == "User" {
			continue
		}
		p := base()
		if !mutate(reflect.ValueOf(p).Elem().Field(i)) {
			t.Fatalf("Principal.%s has a type this test cannot vary (%s): teach it", pt.Field(i).Name, pt.Field(i).Type)
		}
		check("Principal."+pt.Field(i).Name, p)
	}
}

// TestMemoReadsOnlyWhatThePolicyReads: a policy keyed on one header
// shares decisions across other headers and paths, and tells values of
// that header apart.
func TestMemoReadsOnlyWhatThePolicyReads(t *testing.T) {
	e := newEngine(t, Options{
		FS:       policyFS("package gateway.authz\n\ndefault allow := false\n\nallow if input.request.headers[\"x-tenant\"] == \"acme\"\n"),
		Query:    "data.gateway.authz.allow",
		MemoSize: 100,
	})
	ctx := context.Background()
	ask := func(tenant, path string) Decision {
		r := req("GET", path)
		r.Headers = headers("X-Tenant", tenant, "User-Agent", path)
		d, err := e.Decide(ctx, &Input{Principal: alice, Request: r})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	steps := []struct {
		tenant, path    string
		allow, memoized bool
	}{
		{"acme", "/a", true, false},
		{"acme", "/b", true, true}, // path and User-Agent are not read
		{"other", "/a", false, false},
		{"other", "/c", false, true},
		{"acme", "/d", true, true},
	}
	for i, s := range steps {
		if d := ask(s.tenant, s.path); d.Allow != s.allow || d.Memoized != s.memoized {
			t.Fatalf("step %d (%s %s): %+v, want allow %v memoized %v", i, s.tenant, s.path, d, s.allow, s.memoized)
		}
	}
}

func TestMemoOffForNondeterministicPolicies(t *testing.T) {
	e := newEngine(t, Options{
		FS:       policyFS("package gateway.authz\n\nallow if time.now_ns() > 0\n"),
		Query:    "data.gateway.authz.allow",
		MemoSize: 100,
	})
	if e.current.Load().memo != nil {
		t.Fatal("a policy calling time.now_ns must not be memoized")
	}
	for range 3 {
		d, err := e.Decide(context.Background(), &Input{Request: req("GET", "/")})
		if err != nil || !d.Allow || d.Memoized {
			t.Fatalf("%+v %v", d, err)
		}
	}
}

// TestMemoNewWithReload: a reload brings an empty memo, so a changed
// policy decides at once.
func TestMemoNewWithReload(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"p.rego": "package gateway.authz\n\nallow if input.request.path == \"/a\"\n"})
	e := newEngine(t, Options{FS: os.DirFS(dir), Query: "data.gateway.authz.allow", MemoSize: 100})
	ctx := context.Background()
	in := &Input{Request: req("GET", "/a")}
	for range 2 {
		if d, _ := e.Decide(ctx, in); !d.Allow {
			t.Fatal("want allow")
		}
	}
	writeTree(t, dir, map[string]string{"p.rego": "package gateway.authz\n\ndefault allow := false\n\nallow if input.request.path == \"/b\"\n"})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Decide(ctx, in); d.Allow || d.Memoized {
		t.Fatalf("after reload: %+v, want an evaluated deny", d)
	}
}

func TestMemoBounded(t *testing.T) {
	m := newMemo(inputDeps{fields: depPath}, 320)
	for i := range 10000 {
		m.put(m.key(&Input{Request: Request{Path: fmt.Sprint("/", i)}}), Decision{Allow: true})
	}
	if n := m.len(); n > 320 {
		t.Fatalf("%d entries, want at most 320", n)
	}
	// Recent entries survive.
	if _, ok := m.get(m.key(&Input{Request: Request{Path: "/9999"}})); !ok {
		t.Fatal("the newest entry is gone")
	}
}

// BenchmarkDecideMemo: BenchmarkDecide's input answered from the memo.
func BenchmarkDecideMemo(b *testing.B) {
	in := &Input{Principal: benchPrincipal(), Request: benchRequest()}
	benchDecide(b, newEngine(b, Options{FS: policies.FS, MemoSize: 1000}), in)
}
