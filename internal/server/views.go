package server

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/sessionstore"
)

// maxFormBytes bounds login and logout bodies.
const maxFormBytes = 16 << 10

// invalidLogin is Django's AuthenticationForm message: one message for a
// wrong username, a wrong password and an inactive user alike.
const invalidLogin = "Please enter a correct username and password. Note that both fields may be case-sensitive."

//go:embed templates/gateway.css
var stylesheetFS embed.FS

func (s *Server) stylesheet(c *gin.Context) {
	css, _ := stylesheetFS.ReadFile("templates/gateway.css")
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "text/css; charset=utf-8", css)
}

func (s *Server) loginPage(c *gin.Context) {
	next := c.Query("next")
	s.render(c.Writer, c.Request, http.StatusOK, "login", pageData{
		Title: "Sign in", CSRFToken: s.csrf.token(c.Writer, c.Request),
		Next: next, NextDisplay: displayNext(next, s.allowedHosts(c.Request), scheme(c.Request) == "https"),
	})
}

// displayNext shows the destination only when the login would go there.
func displayNext(next string, hosts []string, https bool) string {
	if !safeRedirect(next, hosts, https) {
		return ""
	}
	return next
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Next     string `json:"next"`
}

func (s *Server) login(c *gin.Context) {
	r := c.Request
	asJSON := isJSON(r)
	req, err := s.readLogin(c, asJSON)
	if err != nil {
		s.fail(c, err)
		return
	}
	att, ok := s.beginLogin(c, req.Username) // locked: 429 before any password is checked
	if !ok {
		return
	}
	user, err := s.authenticate(c, req)
	if errors.Is(err, authn.ErrInvalidCredentials) {
		if s.loginFailed(c, att, req.Username) {
			return // this failure reached a limit: answered 429
		}
		defer s.recordLoginFailed(c, req.Username, "invalid_credentials")
		if asJSON {
			writeJSON(c.Writer, http.StatusUnauthorized, map[string]any{"error": "invalid_credentials", "message": invalidLogin, "request_id": state(r).id})
			return
		}
		s.render(c.Writer, r, http.StatusOK, "login", pageData{
			Title: "Sign in", CSRFToken: s.csrf.token(c.Writer, r), Error: invalidLogin,
			Username: req.Username, Next: req.Next, NextDisplay: displayNext(req.Next, s.allowedHosts(r), scheme(r) == "https"),
		})
		return
	}
	if err != nil {
		s.abandonLogin(c, att)
		s.fail(c, err)
		return
	}
	s.loginSucceeded(c, att)
	if err := s.startSession(c, user); err != nil {
		s.fail(c, err)
		return
	}
	s.record(r, audit.LoggedIn, user.Username, user.ID, nil)
	s.signedIn(c, user, req.Next, asJSON, http.StatusOK)
}

// readLogin decodes the credentials (see readPost).
func (s *Server) readLogin(c *gin.Context, asJSON bool) (loginRequest, error) {
	var req loginRequest
	err := s.readPost(c, asJSON, &req, func(f url.Values) {
		req.Username, req.Password, req.Next = f.Get("username"), f.Get("password"), f.Get("next")
	})
	return req, err
}

// readPost decodes a POST to one of the gateway's own forms and enforces
// CSRF, the same way for every form: a same-origin Origin (or, on HTTPS,
// Referer) always; then a JSON body (application/json, which a cross-site
// form cannot send) into dst, or a urlencoded form that carries the CSRF
// token, handed to fromForm. Bodies are capped at maxFormBytes.
func (s *Server) readPost(c *gin.Context, asJSON bool, dst any, fromForm func(url.Values)) error {
	r := c.Request
	if err := checkOrigin(r, s.cfg.AllowedHosts); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	if asJSON {
		if err := json.NewDecoder(r.Body).Decode(dst); err != nil && !errors.Is(err, io.EOF) {
			return errors.Join(errBadRequest, err)
		}
		return nil
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	if err := s.csrf.check(r, r.PostForm.Get(csrfFormField)); err != nil {
		return err
	}
	fromForm(r.PostForm)
	return nil
}

// signedIn answers a successful sign-in (login, signup): a 302 to next
// when it is safe (Django's url_has_allowed_host_and_scheme), else to
// login_redirect_url; JSON clients get the /me document with "redirect",
// with status jsonStatus.
func (s *Server) signedIn(c *gin.Context, user *authn.User, next string, asJSON bool, jsonStatus int) {
	r := c.Request
	target := s.cfg.LoginRedirectURL
	if safeRedirect(next, s.allowedHosts(r), scheme(r) == "https") {
		target = next
	}
	if asJSON {
		p, err := s.users.LoadPrincipal(r.Context(), user.ID, "session")
		s.ready(p)
		if err != nil {
			s.fail(c, err)
			return
		}
		doc := meDocument(p)
		doc["redirect"] = target
		writeJSON(c.Writer, jsonStatus, doc)
		return
	}
	c.Header("Location", locationHeader(target))
	c.Status(http.StatusFound)
}

func (s *Server) parseForm(r *http.Request) error {
	mt := r.Header.Get("Content-Type")
	if mt != "" && !hasMediaType(mt, "application/x-www-form-urlencoded") {
		return errUnsupportedMedia
	}
	if err := r.ParseForm(); err != nil {
		return errors.Join(errBadRequest, err)
	}
	return nil
}

func (s *Server) authenticate(c *gin.Context, req loginRequest) (*authn.User, error) {
	if req.Username == "" || req.Password == "" || len(req.Username) > 150 {
		return nil, authn.ErrInvalidCredentials
	}
	return s.users.Authenticate(c.Request.Context(), req.Username, req.Password)
}

// startSession issues a fresh session id (never the one the client
// brought; a session it brought is deleted), sets the cookie, rotates the
// CSRF token and records the login.
func (s *Server) startSession(c *gin.Context, user *authn.User) error {
	r := c.Request
	st := state(r)
	if st.sessionID != "" {
		if err := s.sessions.Delete(r.Context(), st.sessionID); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	if err := s.issueSession(c, user, "session", now); err != nil {
		return err
	}
	s.csrf.rotate(c.Writer)
	if err := s.users.UpdateLastLogin(r.Context(), user.ID, now); err != nil {
		s.log.Warn("could not record last_login", "request_id", st.id, "username", user.Username, "error", err)
	}
	return nil
}

// issueSession stores a new session for user under a fresh random id,
// bound to the user's current credentials (the session auth hash), and
// sets its cookie. created is when the user logged in: the absolute
// lifetime counts from it.
func (s *Server) issueSession(c *gin.Context, user *authn.User, backend string, created time.Time) error {
	r := c.Request
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	id, err := s.sessions.Create(r.Context(), &sessionstore.Session{
		UserID: user.ID, Backend: backend, CreatedAt: created, LastActivity: time.Now().UTC(),
		ClientIP: clientIP(r), UserAgent: ua, AuthHash: s.authHash(user),
	}, s.lifetime())
	if err != nil {
		return err
	}
	if s.metrics != nil {
		s.metrics.SessionCreated()
	}
	// Max-Age is what remains of the absolute lifetime; without it (expire
	// at browser close) the browser forgets the cookie when it closes.
	maxAge := 0
	if !s.cfg.Session.ExpireAtBrowserClose {
		maxAge = max(1, int(time.Until(created.Add(s.cfg.Session.MaxAge)).Round(time.Second)/time.Second))
	}
	http.SetCookie(c.Writer, s.sessionCookie(id, maxAge))
	return nil
}

// sessionCookie is the session cookie; maxAge 0 sends no Max-Age (a
// browser-session cookie), -1 clears it.
func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	ss := http.SameSiteLaxMode
	switch s.cfg.Session.SameSite {
	case "strict":
		ss = http.SameSiteStrictMode
	case "none":
		ss = http.SameSiteNoneMode
	}
	return &http.Cookie{
		Name: s.cfg.Session.CookieName, Value: value, Path: "/", Domain: s.cfg.Session.Domain,
		MaxAge: maxAge, Secure: s.cfg.Session.SessionSecure(), HttpOnly: true, SameSite: ss,
	}
}

func (s *Server) logoutPage(c *gin.Context) {
	s.render(c.Writer, c.Request, http.StatusOK, "logout", pageData{
		Title: "Sign out", CSRFToken: s.csrf.token(c.Writer, c.Request),
		Username: state(c.Request).principal.Username(),
	})
}

// logout deletes the session in Redis and clears the cookie. If Redis
// cannot be reached the cookie is still cleared, but the answer is 503 so
// the client knows the server-side session may live on until it expires.
func (s *Server) logout(c *gin.Context) {
	r := c.Request
	st := state(r)
	if err := checkOrigin(r, s.cfg.AllowedHosts); err != nil {
		s.fail(c, err)
		return
	}
	asJSON := isJSON(r)
	if !asJSON {
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
		if err := s.parseForm(r); err != nil {
			s.fail(c, err)
			return
		}
		if err := s.csrf.check(r, r.PostForm.Get(csrfFormField)); err != nil {
			s.fail(c, err)
			return
		}
	}
	http.SetCookie(c.Writer, s.sessionCookie("", -1))
	if st.sessionID != "" {
		if err := s.sessions.Delete(r.Context(), st.sessionID); err != nil {
			s.log.Error("logout: could not delete session", "request_id", st.id, "error", err)
			s.fail(c, err)
			return
		}
		if s.metrics != nil {
			s.metrics.SessionRevoked(1)
		}
	}
	if p := st.principal; p.IsAuthenticated() {
		s.record(r, audit.LoggedOut, p.User.Username, p.User.ID, nil)
	}
	if asJSON {
		writeJSON(c.Writer, http.StatusOK, map[string]any{"ok": true})
		return
	}
	s.render(c.Writer, r, http.StatusOK, "message", pageData{
		Title: "Signed out", Heading: "Signed out", Message: "You have been signed out.", ShowLogin: true,
	})
}

func (s *Server) me(c *gin.Context) {
	st := state(c.Request)
	if st.identErr != nil {
		s.fail(c, st.identErr)
		return
	}
	if !st.principal.IsAuthenticated() {
		writeJSON(c.Writer, http.StatusUnauthorized, map[string]any{"error": "not_authenticated", "message": "Authentication credentials were not provided.", "request_id": st.id})
		return
	}
	writeJSON(c.Writer, http.StatusOK, meDocument(st.principal))
}

func meDocument(p *authn.Principal) map[string]any {
	u := p.User
	groups, perms := p.Groups, p.Permissions
	if groups == nil {
		groups = []string{}
	}
	if perms == nil {
		perms = []string{}
	}
	var lastLogin any
	if !u.LastLogin.IsZero() {
		lastLogin = u.LastLogin.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"id": u.ID, "username": u.Username, "email": u.Email,
		"first_name": u.FirstName, "last_name": u.LastName,
		"is_active": u.IsActive, "is_staff": u.IsStaff, "is_superuser": u.IsSuperuser,
		"date_joined": u.DateJoined.UTC().Format(time.RFC3339), "last_login": lastLogin,
		"groups": groups, "permissions": perms, "backend": p.Backend,
		"profile": p.Profile.Plain(),
	}
}

// allowedHosts are the hosts a `next` redirect may name: the request's
// own host plus the configured ones (Django's get_host() ∪
// success_url_allowed_hosts).
func (s *Server) allowedHosts(r *http.Request) []string {
	return append([]string{r.Host}, s.cfg.AllowedHosts...)
}
