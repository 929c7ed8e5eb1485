package authz

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/djangate/gateway/policies"
)

func TestShippedModels(t *testing.T) {
	e := newEngine(t, Options{FS: policies.FS})
	var got []string
	for _, m := range e.Models() {
		got = append(got, m.Label()+": "+strings.Join(m.PermissionNames(), " "))
	}
	want := []string{
		"blog.comment: blog.add_comment blog.change_comment blog.delete_comment blog.view_comment",
		"blog.post: blog.add_post blog.can_publish blog.change_post blog.delete_post blog.view_post",
		"reports.report: reports.view_report",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("models:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestModelDeclarationErrors(t *testing.T) {
	cases := []struct {
		name, data string
		want       []string
	}{
		{"not a mapping", `{"gateway": {"models": ["blog.post"]}}`, []string{`data.gateway.models: must be a mapping`}},
		{"bad label", `{"gateway": {"models": {"Blog.Post": {}}}}`, []string{`data.gateway.models["Blog.Post"]: model "Blog.Post": want "app_label.model"`}},
		{"unknown key", `{"gateway": {"models": {"blog.post": {"perms": {}}}}}`, []string{`data.gateway.models["blog.post"]."perms": unknown key`}},
		{"bad default action", `{"gateway": {"models": {"blog.post": {"default_permissions": "view"}}}}`, []string{`data.gateway.models["blog.post"]."default_permissions": must be a list`}},
		{"bad custom name", `{"gateway": {"models": {"blog.post": {"permissions": {"can_publish": 1}}}}}`, []string{`"permissions"["can_publish"]: want codename: "Human readable name"`}},
		{"every problem at once", `{"gateway": {"models": {"a.B": {}, "c.d": {"x": 1}}}}`, []string{`"a.B"`, `"c.d"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"authz.rego":  file(mustRead(t, "authz.rego")),
				"django.rego": file(mustRead(t, "django.rego")),
				"data.yaml":   file(mustRead(t, "data.yaml")),
				"models.json": file(tc.data),
			}
			_, err := New(context.Background(), Options{FS: fsys, Logger: quiet})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConfigWarnings: a route naming an undeclared permission or model
// loads, with a warning in the log.
func TestConfigWarnings(t *testing.T) {
	var logs bytes.Buffer
	fsys := fstest.MapFS{
		"authz.rego":  file(mustRead(t, "authz.rego")),
		"django.rego": file(mustRead(t, "django.rego")),
		"models.yaml": file(mustRead(t, "models.yaml")),
		"data.json": file(`{"gateway": {"routes": [
			{"prefix": "/a/", "permission": "blog.can_publsh"},
			{"prefix": "/b/", "model": "shop.order"},
			{"prefix": "/c/", "permission": ["blog.can_publish", "auth.view_user"]},
			{"prefix": "/", "login": true}]}}`),
	}
	e, err := New(context.Background(), Options{FS: fsys, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_ = e
	out := logs.String()
	for _, want := range []string{
		"route 0: permission blog.can_publsh is not declared",
		"route 1: model shop.order is not declared",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "route 2") {
		t.Errorf("declared permissions warned about:\n%s", out)
	}
}
