package server_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/profile"
)

// withProfileFields declares profile fields, four of them forwarded in
// headers, one (note) only to policies, the assertion and /me.
func withProfileFields(c *config.Config, _ *fs.FS) {
	c.ProfileFields = []config.ProfileField{
		{Name: "department", Type: "string", Header: "X-Remote-Department"},
		{Name: "level", Type: "integer", Header: "X-Remote-Level"},
		{Name: "tags", Type: "string_list", Header: "X-Remote-Tags"},
		{Name: "remote", Type: "boolean", Default: config.Value{Set: true, Tag: "!!bool", Text: "false"}, Header: "X-Works-Remote"},
		{Name: "note", Type: "string"},
	}
}

// profileHeaderNames are the declared headers, folded as the proxy folds
// them, so that any spelling reaching the upstream is caught.
var profileHeaderNames = []string{"x-remote-department", "x-remote-level", "x-remote-tags", "x-works-remote"}

func foldHeader(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, name)
}

// profileHeaders returns the profile headers the upstream received, under
// whatever spelling.
func profileHeaders(h http.Header) map[string][]string {
	got := map[string][]string{}
	for k, v := range h {
		for _, n := range profileHeaderNames {
			if foldHeader(k) == n {
				got[k] = v
			}
		}
	}
	return got
}

func TestProfileFieldsEndToEnd(t *testing.T) {
	g := newGateway(t, withProfileFields, withAssertion(uaKeyFile(t, "ed25519")))
	ctx := context.Background()
	if _, err := g.users.UpdateProfile(ctx, "alice", func(profile.Values) (profile.Values, error) {
		return profile.Values{"department": "sales", "level": int64(3), "tags": []string{"a,b", "ü"}, "note": "private", "retired_field": "x"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.users.GrantUserPermission(ctx, "alice", "reports.view_report"); err != nil {
		t.Fatal(err)
	}
	forged := http.Header{
		"X-Remote-Department": {"ops"}, "x_remote_level": {"99"}, "X.Remote.Tags": {"admin"},
		"X-WORKS-REMOTE": {"true"},
	}
	alice := g.client()
	wantStatus(t, g.loginJSON(alice, "alice", testPassword), 200)

	t.Run("the upstream receives exactly the declared headers", func(t *testing.T) {
		wantStatus(t, g.do(alice, "GET", "/anything", forged.Clone(), ""), 200)
		want := map[string][]string{
			"X-Remote-Department": {"sales"}, "X-Remote-Level": {"3"}, "X-Remote-Tags": {"a%2Cb,%C3%BC"}, "X-Works-Remote": {"false"},
		}
		if got := profileHeaders(g.up.last(t).Header); !reflect.DeepEqual(got, want) {
			t.Errorf("upstream profile headers %v, want %v", got, want)
		}
	})
	t.Run("a user without values gets only the defaults", func(t *testing.T) {
		bob := g.client()
		wantStatus(t, g.loginJSON(bob, "bob", testPassword), 200)
		wantStatus(t, g.do(bob, "GET", "/anything", forged.Clone(), ""), 200)
		want := map[string][]string{"X-Works-Remote": {"false"}}
		if got := profileHeaders(g.up.last(t).Header); !reflect.DeepEqual(got, want) {
			t.Errorf("upstream profile headers %v, want %v", got, want)
		}
	})
	t.Run("anonymous requests carry none, forged ones are stripped", func(t *testing.T) {
		wantStatus(t, g.do(g.client(), "GET", "/", forged.Clone(), ""), 200)
		if got := profileHeaders(g.up.last(t).Header); len(got) != 0 {
			t.Errorf("anonymous request forwarded %v", got)
		}
	})
	t.Run("the assertion carries the profile claim", func(t *testing.T) {
		wantStatus(t, g.do(alice, "GET", "/anything", nil, ""), 200)
		_, claims := uaVerify(t, uaFetchJWKS(t, g), g.up.last(t).Header.Get(uaHeader), "app")
		want := map[string]any{"department": "sales", "level": json.Number("3"), "tags": []any{"a,b", "ü"}, "remote": false, "note": "private"}
		if got := claims["profile"]; !reflect.DeepEqual(got, want) {
			t.Errorf("profile claim %#v, want %#v", got, want)
		}
	})
	t.Run("me shows the profile", func(t *testing.T) {
		resp := g.do(alice, "GET", g.cfg.Prefix+"/me", nil, "application/json")
		var me struct {
			Profile map[string]any `json:"profile"`
		}
		if err := json.Unmarshal([]byte(wantStatus(t, resp, 200)), &me); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"department": "sales", "level": float64(3), "tags": []any{"a,b", "ü"}, "remote": false, "note": "private"}
		if !reflect.DeepEqual(me.Profile, want) {
			t.Errorf("/me profile %#v, want %#v", me.Profile, want)
		}
	})
	t.Run("the shipped policy's department rule reads the profile", func(t *testing.T) {
		before := g.up.count()
		wantStatus(t, g.do(alice, "GET", "/reports/departments/sales/q1", forged.Clone(), ""), 200)
		wantStatus(t, g.do(alice, "GET", "/reports/departments/ops/q1", forged.Clone(), ""), http.StatusForbidden)
		if g.up.count() != before+1 {
			t.Errorf("upstream got %d requests, want 1", g.up.count()-before)
		}
	})
	t.Run("a value no longer fitting its declaration is withheld", func(t *testing.T) {
		if _, err := g.users.UpdateProfile(ctx, "alice", func(v profile.Values) (profile.Values, error) {
			v["level"] = "three" // written by an older declaration
			return v, nil
		}); err != nil {
			t.Fatal(err)
		}
		// g.users returns once the gateway's cache has received the
		// change's announcement (settle_test.go).
		wantStatus(t, g.do(alice, "GET", "/anything", forged.Clone(), ""), 200)
		h := g.up.last(t).Header
		if _, stale := profileHeaders(h)["X-Remote-Level"]; stale || h.Get("X-Remote-Department") != "sales" {
			t.Fatalf("upstream profile headers %v", profileHeaders(h))
		}
	})
}
