package authz

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/testredis"
	"github.com/djangate/gateway/policies"
)

// TestDjangoLibraryAgreesWithMe generates a population of users in a real
// Redis (active or not, superuser or not, in random groups with random
// direct and group permissions), loads each principal as the gateway does
// for /me, and checks that the Rego library (policies/django.rego) answers
// has_perm, has_perms and has_module_perms exactly as Django's semantics,
// implemented in Go, and /me's permission list say.
func TestDjangoLibraryAgreesWithMe(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := authn.NewStore(rdb, "pop:", hs)

	rnd := rand.New(rand.NewSource(42))
	apps := []string{"blog", "shop", "reports", "auth"}
	var pool []string
	for _, app := range apps {
		for _, m := range []string{"add", "change", "delete", "view"} {
			pool = append(pool, fmt.Sprintf("%s.%s_item", app, m))
		}
	}
	pick := func(n int) []string {
		out := map[string]bool{}
		for i := 0; i < n; i++ {
			out[pool[rnd.Intn(len(pool))]] = true
		}
		var s []string
		for p := range out {
			s = append(s, p)
		}
		sort.Strings(s)
		return s
	}
	// Declare the pool (app.item models), as Django's migrations would.
	for _, app := range apps {
		m, err := authn.NewModel(authn.ModelSpec{Label: app + ".item"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeclareModels(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	groups := []string{"g0", "g1", "g2", "g3", "g4", "g5"}
	for _, g := range groups {
		if err := st.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		for _, p := range pick(rnd.Intn(5)) {
			if err := st.GrantGroupPermission(ctx, g, p); err != nil {
				t.Fatal(err)
			}
		}
	}

	q, err := djangoQuery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	candidates := append(append([]string(nil), pool...), "unknown.perm", "blog.never_granted")
	const users = 80
	for i := 0; i < users; i++ {
		u := &authn.User{Username: fmt.Sprintf("u%02d", i), IsActive: rnd.Intn(5) != 0, IsSuperuser: rnd.Intn(6) == 0}
		created, err := st.CreateUser(ctx, u, "x-password-x")
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if rnd.Intn(3) == 0 {
				if err := st.AddUserToGroup(ctx, u.Username, g); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, p := range pick(rnd.Intn(4)) {
			if err := st.GrantUserPermission(ctx, u.Username, p); err != nil {
				t.Fatal(err)
			}
		}
		p, err := st.LoadPrincipal(ctx, created.ID, "session")
		if err != nil {
			t.Fatal(err)
		}
		me := map[string]bool{} // what /me lists
		for _, perm := range p.Permissions {
			me[perm] = true
		}
		got := q.eval(t, p, candidates, apps)
		knownList, err := st.KnownPermissions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		known := map[string]bool{}
		for _, k := range knownList {
			known[k] = true
		}
		for _, perm := range candidates {
			want := p.HasPerm(perm)
			if got.hasPerm[perm] != want {
				t.Errorf("%s (active=%v super=%v): rego has_perm(%q)=%v, Django semantics %v", u.Username, u.IsActive, u.IsSuperuser, perm, got.hasPerm[perm], want)
			}
			// /me lists known permissions (a superuser's: all of them).
			if known[perm] && got.hasPerm[perm] != me[perm] {
				t.Errorf("%s: rego has_perm(%q)=%v but /me lists it: %v", u.Username, perm, got.hasPerm[perm], me[perm])
			}
		}
		for _, app := range apps {
			want := false
			if p.User.IsActive {
				want = p.User.IsSuperuser
				for perm := range me {
					want = want || strings.HasPrefix(perm, app+".")
				}
			}
			if got.moduleSet[app] != want {
				t.Errorf("%s: rego has_module_perms(%q)=%v, want %v", u.Username, app, got.moduleSet[app], want)
			}
		}
		wantAll := true
		for _, perm := range p.Permissions {
			wantAll = wantAll && p.HasPerm(perm)
		}
		if got.hasAllMe != wantAll || !got.hasEmpty {
			t.Errorf("%s: has_perms(/me list)=%v want %v; has_perms([])=%v want true", u.Username, got.hasAllMe, wantAll, got.hasEmpty)
		}
	}
}

type djangoAnswers struct {
	hasPerm, moduleSet map[string]bool
	hasAllMe, hasEmpty bool
}

type djangoQ struct{ pq rego.PreparedEvalQuery }

// djangoQuery prepares one query over the shipped django.rego asking every
// question at once for the candidates in input.candidates.
func djangoQuery(ctx context.Context) (*djangoQ, error) {
	src, err := fs.ReadFile(policies.FS, "django.rego")
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(
		rego.Query(`perms := {p | some p in input.candidates; data.gateway.django.has_perm(p)}
			modules := {a | some a in input.apps; data.gateway.django.has_module_perms(a)}
			all_me := data.gateway.django.has_perms(input.me)
			empty := data.gateway.django.has_perms([])`),
		rego.Module("django.rego", string(src)),
		rego.SetRegoVersion(ast.RegoV1),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &djangoQ{pq: pq}, nil
}

func (q *djangoQ) eval(t *testing.T, p *authn.Principal, candidates, apps []string) djangoAnswers {
	t.Helper()
	v, err := buildInput(&Input{Principal: p})
	if err != nil {
		t.Fatal(err)
	}
	obj := v.(ast.Object)
	obj.Insert(ast.StringTerm("candidates"), ast.NewTerm(mustValue(t, candidates)))
	obj.Insert(ast.StringTerm("apps"), ast.NewTerm(mustValue(t, apps)))
	obj.Insert(ast.StringTerm("me"), ast.NewTerm(mustValue(t, append([]string{}, p.Permissions...))))
	rs, err := q.pq.Eval(context.Background(), rego.EvalParsedInput(obj))
	if err != nil || len(rs) != 1 {
		t.Fatalf("eval: %v (%d results)", err, len(rs))
	}
	b := rs[0].Bindings
	out := djangoAnswers{hasPerm: map[string]bool{}, moduleSet: map[string]bool{}}
	for _, x := range b["perms"].([]any) {
		out.hasPerm[x.(string)] = true
	}
	for _, x := range b["modules"].([]any) {
		out.moduleSet[x.(string)] = true
	}
	out.hasAllMe, _ = b["all_me"].(bool)
	out.hasEmpty, _ = b["empty"].(bool)
	return out
}

func mustValue(t *testing.T, x any) ast.Value {
	t.Helper()
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
