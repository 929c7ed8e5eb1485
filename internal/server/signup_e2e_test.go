package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
)

func withSignup(c *config.Config, _ *fs.FS) { c.Signup.Enabled = true }

func (g *gw) signupJSON(c *http.Client, contentType string, body map[string]string) *http.Response {
	g.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/signup", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func TestSignupIsOffByDefault(t *testing.T) {
	g := newGateway(t)
	wantStatus(t, g.do(g.client(), "GET", "/_gateway/signup", nil, "text/html"), 404)
	wantStatus(t, g.signupJSON(g.client(), "application/json", map[string]string{
		"username": "eve", "email": "eve@example.com", "password1": newPassword, "password2": newPassword,
	}), 404)
	if _, err := g.users.GetUserByUsername(context.Background(), "eve"); !errors.Is(err, authn.ErrUserNotFound) {
		t.Fatalf("a user was created with signup off: %v", err)
	}
}

// TestSignupForm: a browser fills in the page; the new user is active,
// has no groups or permissions, is signed in under a new session and sent
// to next.
func TestSignupForm(t *testing.T) {
	g := newGateway(t, withSignup)
	c := g.client()
	page := g.do(c, "GET", "/_gateway/signup?next=/account/", nil, "text/html")
	m := csrfRe.FindStringSubmatch(readBody(t, page))
	if page.StatusCode != 200 || m == nil {
		t.Fatalf("signup page: status %d, CSRF token found: %v", page.StatusCode, m != nil)
	}
	post := func(form url.Values) *http.Response {
		req, _ := http.NewRequest("POST", g.URL+"/_gateway/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	fields := url.Values{"username": {"newbie"}, "email": {"newbie@example.com"}, "password1": {newPassword}, "password2": {newPassword}, "next": {"/account/"}}

	// Without the CSRF token: 403, nothing created.
	wantStatus(t, post(fields), 403)
	// A mismatch re-renders the form with the message, keeping the values
	// typed but never the passwords.
	bad := url.Values{"username": {"newbie"}, "email": {"newbie@example.com"}, "password1": {newPassword}, "password2": {"other"}, "csrfmiddlewaretoken": {m[1]}}
	body := wantStatus(t, post(bad), 200)
	if !strings.Contains(body, "The two password fields didn’t match.") || !strings.Contains(body, `value="newbie@example.com"`) || strings.Contains(body, newPassword) {
		t.Fatalf("invalid form page:\n%s", body)
	}
	if _, err := g.users.GetUserByUsername(context.Background(), "newbie"); !errors.Is(err, authn.ErrUserNotFound) {
		t.Fatalf("an invalid form created the user: %v", err)
	}

	fields.Set("csrfmiddlewaretoken", m[1])
	resp := post(fields)
	wantStatus(t, resp, 302)
	if loc := resp.Header.Get("Location"); loc != "/account/" {
		t.Fatalf("redirect to %q, want next", loc)
	}
	me := g.do(c, "GET", "/_gateway/me", nil, "application/json")
	var doc struct {
		Username    string   `json:"username"`
		Email       string   `json:"email"`
		IsActive    bool     `json:"is_active"`
		IsStaff     bool     `json:"is_staff"`
		IsSuperuser bool     `json:"is_superuser"`
		Groups      []string `json:"groups"`
		Permissions []string `json:"permissions"`
	}
	if err := json.Unmarshal([]byte(wantStatus(t, me, 200)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Username != "newbie" || doc.Email != "newbie@example.com" || !doc.IsActive || doc.IsStaff || doc.IsSuperuser ||
		len(doc.Groups) != 0 || len(doc.Permissions) != 0 {
		t.Fatalf("the new user: %+v", doc)
	}
	g.assertPassword(t, "newbie", newPassword)
	// A login route lets the new user through; a permission route doesn't.
	wantStatus(t, g.do(c, "GET", "/account/", nil, ""), 200)
	wantStatus(t, g.do(c, "GET", "/reports/", nil, ""), 403)
}

func TestSignupJSON(t *testing.T) {
	g := newGateway(t, withSignup)
	valid := func() map[string]string {
		return map[string]string{"username": "newbie", "email": "newbie@example.com", "password1": newPassword, "password2": newPassword}
	}
	cases := []struct {
		name   string
		change func(map[string]string)
		field  string
		msg    string
	}{
		{"username taken", func(b map[string]string) { b["username"] = "alice" }, "username", "A user with that username already exists."},
		{"invalid username", func(b map[string]string) { b["username"] = "new bie" }, "username", "Enter a valid username."},
		{"missing email", func(b map[string]string) { delete(b, "email") }, "email", "This field is required."},
		{"invalid email", func(b map[string]string) { b["email"] = "newbie@localhost" }, "email", "Enter a valid email address."},
		{"mismatch", func(b map[string]string) { b["password2"] = "something-else-42" }, "password2", "The two password fields didn’t match."},
		{"common password", func(b map[string]string) { b["password1"], b["password2"] = "password123", "password123" }, "password2", "This password is too common."},
		{"too similar", func(b map[string]string) { b["password1"], b["password2"] = "newbie-example", "newbie-example" }, "password2", "too similar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := valid()
			tc.change(b)
			var got struct {
				Error  string              `json:"error"`
				Errors map[string][]string `json:"errors"`
			}
			if err := json.Unmarshal([]byte(wantStatus(t, g.signupJSON(g.client(), "application/json", b), 400)), &got); err != nil {
				t.Fatal(err)
			}
			if got.Error != "invalid" || len(got.Errors[tc.field]) == 0 || !strings.Contains(strings.Join(got.Errors[tc.field], " "), tc.msg) {
				t.Fatalf("errors %+v, want %s: %q", got.Errors, tc.field, tc.msg)
			}
			if _, err := g.users.GetUserByUsername(context.Background(), "newbie"); !errors.Is(err, authn.ErrUserNotFound) {
				t.Fatalf("a refused signup created the user: %v", err)
			}
		})
	}

	// A cross-site form can send text/plain, never application/json.
	wantStatus(t, g.signupJSON(g.client(), "text/plain", valid()), 415)

	c := g.client()
	resp := g.signupJSON(c, "application/json", valid())
	body := wantStatus(t, resp, 201)
	if !strings.Contains(body, `"username":"newbie"`) || strings.Contains(body, newPassword) {
		t.Fatalf("created: %s", body)
	}
	if g.sessionCookie(c) == "" {
		t.Fatal("the new user is not signed in")
	}
	// Nobody can take the name again, and the new user is audited.
	wantStatus(t, g.signupJSON(g.client(), "application/json", valid()), 400)
	if len(find(g.auditEntries(t), map[string]string{"event": "user_created", "username": "newbie", "via": "signup"})) != 1 {
		t.Fatalf("no user_created audit event: %v", g.auditEntries(t))
	}
}
