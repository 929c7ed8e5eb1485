package server

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
)

// Django's PasswordChangeForm messages.
const (
	msgRequired         = "This field is required."
	msgOldPasswordWrong = "Your old password was entered incorrectly. Please enter it again."
	msgPasswordMismatch = "The two password fields didn’t match."
)

// passwordChangeData is what the password change page sees: the common
// page data plus the form's errors by field (old_password,
// new_password1, new_password2).
type passwordChangeData struct {
	pageData
	Errors map[string][]string
}

func parsePasswordChangePage() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/layout.html", "templates/password_change.html")
}

type passwordChangeRequest struct {
	OldPassword  string `json:"old_password"`
	NewPassword1 string `json:"new_password1"`
	NewPassword2 string `json:"new_password2"`
}

// passwordChangePage is the form (Django's PasswordChangeView, GET).
func (s *Server) passwordChangePage(c *gin.Context) {
	st := state(c.Request)
	switch {
	case st.identErr != nil:
		s.fail(c, st.identErr)
	case !st.principal.IsAuthenticated():
		s.fail(c, errLoginRequired) // browsers go to the login page, with next
	default:
		s.renderPasswordChange(c, nil)
	}
}

func (s *Server) renderPasswordChange(c *gin.Context, errs map[string][]string) {
	r := c.Request
	d := passwordChangeData{Errors: errs, pageData: pageData{
		Title: "Change password", CSRFToken: s.csrf.token(c.Writer, r), Username: state(r).principal.Username(),
		SiteName: s.siteName, Prefix: s.prefix, RequestID: state(r).id,
	}}
	c.Writer.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Writer.WriteHeader(http.StatusOK) // Django re-renders an invalid form with 200
	if err := s.pages["password_change"].ExecuteTemplate(c.Writer, "layout", d); err != nil {
		s.log.Error("render page", "page", "password_change", "error", err)
	}
}

// passwordChange changes the signed-in user's password (Django's
// PasswordChangeView, POST): the old password must be right and the new
// one typed twice and pass the password validators. On success every
// session of the user ends, and this one continues under a fresh id
// (Django's update_session_auth_hash).
func (s *Server) passwordChange(c *gin.Context) {
	r := c.Request
	st := state(r)
	if st.identErr != nil {
		s.fail(c, st.identErr)
		return
	}
	asJSON := isJSON(r)
	req, err := s.readPasswordChange(c, asJSON)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !st.principal.IsAuthenticated() {
		s.fail(c, errLoginRequired)
		return
	}
	user := st.principal.User
	errs := map[string][]string{}
	for field, v := range map[string]string{"old_password": req.OldPassword, "new_password1": req.NewPassword1, "new_password2": req.NewPassword2} {
		if v == "" {
			errs[field] = []string{msgRequired}
		}
	}
	if req.OldPassword != "" {
		// Guessing the old password is guessing a login: the same throttle
		// counts it, per username and client IP, and a lock refuses it (429)
		// before the password is checked.
		att, ok := s.beginLogin(c, user.Username)
		if !ok {
			return
		}
		verified, err := s.users.Authenticate(r.Context(), user.Username, req.OldPassword)
		switch {
		case errors.Is(err, authn.ErrInvalidCredentials):
			if att != nil && s.loginFailed(c, att, user.Username) {
				return // this failure reached a limit: answered 429
			}
			errs["old_password"] = []string{msgOldPasswordWrong}
		case err != nil:
			if att != nil {
				s.abandonLogin(c, att)
			}
			s.fail(c, err)
			return
		default:
			if att != nil {
				s.loginSucceeded(c, att)
			}
			user = verified // its hash may just have been upgraded
		}
	}
	if req.NewPassword1 != "" && req.NewPassword2 != "" {
		if req.NewPassword1 != req.NewPassword2 {
			errs["new_password2"] = []string{msgPasswordMismatch}
		} else if err := s.validators.Validate(req.NewPassword2, user); err != nil {
			var pe *authn.PasswordError
			if !errors.As(err, &pe) {
				s.fail(c, err)
				return
			}
			errs["new_password2"] = pe.Messages
		}
	}
	if len(errs) == 0 {
		changed, err := s.users.ChangePassword(r.Context(), user, req.NewPassword1)
		switch {
		case errors.Is(err, authn.ErrInvalidCredentials): // changed meanwhile
			errs["old_password"] = []string{msgOldPasswordWrong}
		case err != nil:
			s.fail(c, err)
			return
		default:
			user = changed
			// Every gateway drops the user's other sessions when the
			// store's announcement arrives; this one at once.
			s.principals.Invalidate("u " + strconv.FormatInt(user.ID, 10))
		}
	}
	if len(errs) > 0 {
		s.log.Info("password change refused", "request_id", st.id, "username", user.Username, "fields", len(errs))
		if _, wrongOld := errs["old_password"]; wrongOld {
			s.record(r, audit.PasswordChangeFailed, user.Username, user.ID, map[string]string{"reason": "old_password"})
		}
		if asJSON {
			writeJSON(c.Writer, http.StatusBadRequest, map[string]any{
				"error": "invalid", "message": "The password was not changed.", "errors": errs, "request_id": st.id,
			})
			return
		}
		s.renderPasswordChange(c, errs)
		return
	}
	// ChangePassword ended every session of the user, this one included:
	// continue it under a fresh id, bound to the new credentials, keeping
	// its login time (the absolute lifetime does not restart).
	created, backend := time.Now().UTC(), "session"
	if st.session != nil {
		created, backend = st.session.CreatedAt, st.session.Backend
	}
	if err := s.issueSession(c, user, backend, created); err != nil {
		s.log.Error("password changed, but the session could not be renewed", "request_id", st.id, "username", user.Username, "error", err)
		s.fail(c, err)
		return
	}
	s.log.Info("password changed", "request_id", st.id, "username", user.Username, "client_ip", clientIP(r))
	s.record(r, audit.PasswordChanged, user.Username, user.ID, map[string]string{"via": "password_change", "other_sessions": "ended"})
	if asJSON {
		writeJSON(c.Writer, http.StatusOK, map[string]any{"ok": true, "message": "Your password was changed."})
		return
	}
	s.render(c.Writer, r, http.StatusOK, "message", pageData{
		Title: "Password changed", Heading: "Password change successful", Message: "Your password was changed.",
	})
}

// readPasswordChange decodes the form or JSON (see readPost).
func (s *Server) readPasswordChange(c *gin.Context, asJSON bool) (passwordChangeRequest, error) {
	var req passwordChangeRequest
	err := s.readPost(c, asJSON, &req, func(f url.Values) {
		req.OldPassword, req.NewPassword1, req.NewPassword2 = f.Get("old_password"), f.Get("new_password1"), f.Get("new_password2")
	})
	return req, err
}
