package server

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
)

// userCreator is the part of the user store self-registration needs.
type userCreator interface {
	CreateUser(ctx context.Context, u *authn.User, password string) (*authn.User, error)
}

// Django's UserCreationForm messages.
const (
	msgUsernameTaken = "A user with that username already exists."
	msgEmailInvalid  = "Enter a valid email address."
)

// signupData is what the signup page sees: the common page data, the
// values typed so far (never the passwords) and the errors by field.
type signupData struct {
	pageData
	Email  string
	Errors map[string][]string
}

func parseSignupPage() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/layout.html", "templates/signup.html")
}

type signupRequest struct {
	Username  string `json:"username"`
	Email     string `json:"email"`
	Password1 string `json:"password1"`
	Password2 string `json:"password2"`
	Next      string `json:"next"`
}

// signupPage is the registration form (GET), only served with
// signup.enabled.
func (s *Server) signupPage(c *gin.Context) {
	s.renderSignup(c, signupRequest{Next: c.Query("next")}, nil)
}

func (s *Server) renderSignup(c *gin.Context, req signupRequest, errs map[string][]string) {
	r := c.Request
	d := signupData{Email: req.Email, Errors: errs, pageData: pageData{
		Title: "Sign up", CSRFToken: s.csrf.token(c.Writer, r), Username: req.Username, Next: req.Next,
		SiteName: s.siteName, Prefix: s.prefix, RequestID: state(r).id,
	}}
	c.Writer.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Writer.WriteHeader(http.StatusOK) // Django re-renders an invalid form with 200
	if err := s.pages["signup"].ExecuteTemplate(c.Writer, "layout", d); err != nil {
		s.log.Error("render page", "page", "signup", "error", err)
	}
}

// signup creates an active user with no groups and no permissions from
// a username, an email address and a password typed twice (checked by the
// password validators), then signs the new user in under a new session,
// as Django's UserCreationForm followed by login() does.
func (s *Server) signup(c *gin.Context) {
	r := c.Request
	st := state(r)
	asJSON := isJSON(r)
	req, err := s.readSignup(c, asJSON)
	if err != nil {
		s.fail(c, err)
		return
	}
	creator, ok := s.users.(userCreator)
	if !ok {
		s.fail(c, errors.New("server: the user store cannot create users"))
		return
	}
	req.Username = authn.NormalizeUsername(strings.TrimSpace(req.Username))
	req.Email = strings.TrimSpace(req.Email)
	errs := map[string][]string{}
	for field, v := range map[string]string{"username": req.Username, "email": req.Email, "password1": req.Password1, "password2": req.Password2} {
		if v == "" {
			errs[field] = []string{msgRequired}
		}
	}
	if req.Username != "" {
		if err := authn.ValidateUsername(req.Username); err != nil {
			errs["username"] = []string{"Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."}
		}
	}
	if req.Email != "" && !validEmail(req.Email) {
		errs["email"] = []string{msgEmailInvalid}
	}
	candidate := &authn.User{Username: req.Username, Email: req.Email, IsActive: true}
	if req.Password1 != "" && req.Password2 != "" {
		if req.Password1 != req.Password2 {
			errs["password2"] = []string{msgPasswordMismatch}
		} else if err := s.validators.Validate(req.Password2, candidate); err != nil {
			var pe *authn.PasswordError
			if !errors.As(err, &pe) {
				s.fail(c, err)
				return
			}
			errs["password2"] = pe.Messages
		}
	}
	var user *authn.User
	if len(errs) == 0 {
		user, err = creator.CreateUser(r.Context(), candidate, req.Password1)
		switch {
		case errors.Is(err, authn.ErrUserExists):
			errs["username"] = []string{msgUsernameTaken}
		case errors.Is(err, authn.ErrInvalidUsername):
			errs["username"] = []string{err.Error()}
		case err != nil:
			s.fail(c, err)
			return
		}
	}
	if len(errs) > 0 {
		if asJSON {
			writeJSON(c.Writer, http.StatusBadRequest, map[string]any{
				"error": "invalid", "message": "The account was not created.", "errors": errs, "request_id": st.id,
			})
			return
		}
		s.renderSignup(c, req, errs)
		return
	}
	s.record(r, audit.UserCreated, user.Username, user.ID, map[string]string{"via": "signup"})
	if err := s.startSession(c, user); err != nil {
		s.fail(c, err)
		return
	}
	s.record(r, audit.LoggedIn, user.Username, user.ID, map[string]string{"via": "signup"})
	s.signedIn(c, user, req.Next, asJSON, http.StatusCreated)
}

// readSignup decodes the form or JSON (see readPost).
func (s *Server) readSignup(c *gin.Context, asJSON bool) (signupRequest, error) {
	var req signupRequest
	err := s.readPost(c, asJSON, &req, func(f url.Values) {
		req.Username, req.Email, req.Password1, req.Password2, req.Next = f.Get("username"), f.Get("email"), f.Get("password1"), f.Get("password2"), f.Get("next")
	})
	return req, err
}

// validEmail is a deliberately plain check, like Django's EmailValidator
// in spirit: one "@", a non-empty local part and a dotted domain, no
// spaces or control characters, at most 254 bytes.
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
	}
	return true
}
