package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const newPassword = "Unfamiliar-Quokka-Orbit-42"

// passwordChangeForm fills in the password change page as a browser does.
func (g *gw) passwordChangeForm(c *http.Client, old, new1, new2 string) *http.Response {
	g.t.Helper()
	page := g.do(c, "GET", "/_gateway/password_change", nil, "text/html")
	m := csrfRe.FindStringSubmatch(readBody(g.t, page))
	if page.StatusCode != 200 || m == nil {
		g.t.Fatalf("password change page: status %d, CSRF token found: %v", page.StatusCode, m != nil)
	}
	return g.postForm(c, url.Values{"old_password": {old}, "new_password1": {new1}, "new_password2": {new2}, "csrfmiddlewaretoken": {m[1]}})
}

func (g *gw) postForm(c *http.Client, form url.Values) *http.Response {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/password_change", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func (g *gw) passwordChangeJSON(c *http.Client, contentType string, body any) *http.Response {
	g.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/password_change", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func TestPasswordChangeNeedsLogin(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	resp := g.do(c, "GET", "/_gateway/password_change", nil, "text/html")
	wantStatus(t, resp, 302)
	if loc := resp.Header.Get("Location"); loc != "/_gateway/login?next=%2F_gateway%2Fpassword_change" {
		t.Fatalf("anonymous browser sent to %q", loc)
	}
	body := wantStatus(t, g.do(c, "GET", "/_gateway/password_change", nil, "application/json"), 401)
	if !strings.Contains(body, `"not_authenticated"`) {
		t.Fatalf("anonymous JSON: %s", body)
	}
	wantStatus(t, g.passwordChangeJSON(c, "application/json", map[string]string{
		"old_password": testPassword, "new_password1": newPassword, "new_password2": newPassword,
	}), 401)
	// A session that ended is anonymous here too.
	id := g.login(t, "alice")
	if err := g.sessions.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.passwordChangeJSON(g.withCookie(id), "application/json", map[string]string{
		"old_password": testPassword, "new_password1": newPassword, "new_password2": newPassword,
	}), 401)
	g.assertPassword(t, "alice", testPassword)
}

// assertPassword checks which password logs username in.
func (g *gw) assertPassword(t *testing.T, username, password string) {
	t.Helper()
	if _, err := g.users.Authenticate(context.Background(), username, password); err != nil {
		t.Fatalf("%s cannot log in with the expected password: %v", username, err)
	}
}

func TestPasswordChangeForm(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	c := g.client()
	wantStatus(t, g.loginForm(c, "alice", testPassword, "/"), 302)
	mine := g.sessionCookie(c)
	mySession, err := g.sessions.Get(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, bobs := g.login(t, "alice"), g.login(t, "bob")

	page := g.do(c, "GET", "/_gateway/password_change", nil, "text/html")
	body := wantStatus(t, page, 200)
	for _, w := range []string{"Change password", "alice", `name="old_password"`, `name="new_password1"`, `name="new_password2"`, `name="csrfmiddlewaretoken"`, `action="/_gateway/password_change"`} {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
	if page.Header.Get("Content-Security-Policy") == "" || page.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("page headers %v", page.Header)
	}

	// Refusals change nothing and end nothing.
	wantStatus(t, g.postForm(c, url.Values{"old_password": {testPassword}, "new_password1": {newPassword}, "new_password2": {newPassword}}), 403)
	for _, tc := range []struct {
		name, old, new1, new2 string
		want                  []string
	}{
		{"wrong old password", "wrong", newPassword, newPassword, []string{"Your old password was entered incorrectly. Please enter it again."}},
		{"mismatch", testPassword, newPassword, newPassword + "x", []string{"The two password fields didn’t match."}},
		{"validators", testPassword, "1234567", "1234567", []string{
			"This password is too short. It must contain at least 8 characters.", "This password is too common.", "This password is entirely numeric.",
		}},
		{"similar to the username", testPassword, "alice@example.com", "alice@example.com", []string{"The password is too similar to the"}},
		{"missing fields", "", "", "", []string{"This field is required."}},
	} {
		body := wantStatus(t, g.passwordChangeForm(c, tc.old, tc.new1, tc.new2), 200)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Fatalf("%s: page lacks %q:\n%s", tc.name, w, body)
			}
		}
		if strings.Contains(body, tc.new1) && tc.new1 != "" || tc.old != "" && strings.Contains(body, tc.old) {
			t.Fatalf("%s: the page shows a typed password", tc.name)
		}
	}
	g.assertPassword(t, "alice", testPassword)
	if g.sessionCookie(c) != mine || !g.alive(t, mine) || !g.alive(t, elsewhere) {
		t.Fatal("a refused change touched the sessions")
	}

	// Success.
	resp := g.passwordChangeForm(c, testPassword, newPassword, newPassword)
	if body := wantStatus(t, resp, 200); !strings.Contains(body, "Your password was changed.") {
		t.Fatalf("success page:\n%s", body)
	}
	renewed := g.sessionCookie(c)
	if renewed == "" || renewed == mine {
		t.Fatal("the changing session kept its id")
	}
	if g.stored(mine) || g.alive(t, mine) {
		t.Fatal("the old id of the changing session still works")
	}
	if g.stored(elsewhere) || g.alive(t, elsewhere) {
		t.Fatal("alice's other session survived her password change")
	}
	if !g.alive(t, bobs) {
		t.Fatal("bob's session ended with alice's password change")
	}
	// This session lives on, under the new id and the same login time.
	wantStatus(t, g.do(c, "GET", "/account/", nil, ""), 200)
	s, err := g.sessions.Get(ctx, renewed)
	if err != nil || !s.CreatedAt.Equal(mySession.CreatedAt) || s.UserID != mySession.UserID {
		t.Fatalf("renewed session %+v, %v; want the login time %s kept", s, err, mySession.CreatedAt)
	}
	g.assertPassword(t, "alice", newPassword)
	wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 401)
	if strings.Contains(g.logs.String(), newPassword) || strings.Contains(g.logs.String(), mine) || strings.Contains(g.logs.String(), renewed) {
		t.Fatal("a password or session id was logged")
	}
}

func TestPasswordChangeJSON(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	mine, elsewhere := g.sessionCookie(c), g.login(t, "alice")

	// Only application/json, which a cross-site form cannot send; a
	// text/plain body (which it can) is refused.
	wantStatus(t, g.passwordChangeJSON(c, "text/plain", map[string]string{
		"old_password": testPassword, "new_password1": newPassword, "new_password2": newPassword,
	}), 415)
	// A form without the CSRF token is refused.
	wantStatus(t, g.postForm(c, url.Values{"old_password": {testPassword}, "new_password1": {newPassword}, "new_password2": {newPassword}}), 403)
	var bad struct {
		Error  string              `json:"error"`
		Errors map[string][]string `json:"errors"`
	}
	resp := g.passwordChangeJSON(c, "application/json", map[string]string{"old_password": "wrong", "new_password1": "short", "new_password2": "other"})
	if err := json.Unmarshal([]byte(wantStatus(t, resp, 400)), &bad); err != nil {
		t.Fatal(err)
	}
	if bad.Error != "invalid" || len(bad.Errors["old_password"]) != 1 || bad.Errors["new_password2"][0] != "The two password fields didn’t match." {
		t.Fatalf("field errors %+v", bad)
	}
	if !g.alive(t, mine) || !g.alive(t, elsewhere) {
		t.Fatal("a refused change ended sessions")
	}

	resp = g.passwordChangeJSON(c, "application/json; charset=utf-8", map[string]string{
		"old_password": testPassword, "new_password1": newPassword, "new_password2": newPassword,
	})
	if body := wantStatus(t, resp, 200); !strings.Contains(body, `"ok":true`) {
		t.Fatalf("success: %s", body)
	}
	renewed := setCookie(t, resp, g.cfg.Session.CookieName).Value
	if renewed == mine || !g.alive(t, renewed) || g.alive(t, mine) || g.alive(t, elsewhere) {
		t.Fatal("after the change only the renewed session may work")
	}
	g.assertPassword(t, "alice", newPassword)

	// Both outcomes are audit events, without any password.
	entries := g.auditEntries(t)
	if len(find(entries, map[string]string{"event": "password_change_failed", "username": "alice", "reason": "old_password"})) != 1 ||
		len(find(entries, map[string]string{"event": "password_changed", "username": "alice", "via": "password_change"})) != 1 {
		t.Fatalf("audit entries %v lack the password change events", entries)
	}
	for _, e := range entries {
		for _, v := range e {
			if strings.Contains(v, newPassword) || strings.Contains(v, testPassword) {
				t.Fatalf("an audit entry holds a password: %v", e)
			}
		}
	}
}

// TestPasswordChangeIsThrottled: wrong old passwords count like failed
// logins; at the limit even the right one gets 429, and nothing changes.
func TestPasswordChangeIsThrottled(t *testing.T) {
	g := newGateway(t, throttled(3, 100))
	c := g.client()
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	change := func(old string) *http.Response {
		return g.passwordChangeJSON(c, "application/json", map[string]string{
			"old_password": old, "new_password1": newPassword, "new_password2": newPassword,
		})
	}
	wantStatus(t, change("wrong-1"), 400)
	wantStatus(t, change("wrong-2"), 400)
	resp := change("wrong-3") // the third failure reaches the limit
	wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	wantStatus(t, change(testPassword), 429) // locked: not even checked
	g.assertPassword(t, "alice", testPassword)
	// The lock is the login's too.
	wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 429)
}
