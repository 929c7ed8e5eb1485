package server

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/proxy"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/throttle"
	"github.com/djangate/gateway/internal/tokens"
)

// Errors the server itself raises; writeError maps them (and the other
// packages' sentinels) to a status in one place.
var (
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errNoUpstream       = errors.New("no upstream serves this host and path")
	errLoginRequired    = errors.New("authentication required")
	errForbidden        = errors.New("permission denied")
	errInternal         = errors.New("internal error")
	errBadRequest       = errors.New("bad request")
	errUnsupportedMedia = errors.New("unsupported media type")
	errHostNotAllowed   = errors.New("host not allowed")
)

// problem is how an error is shown to the client.
type problem struct {
	status  int
	code    string // machine-readable, for JSON clients
	heading string
	message string
}

func classify(err error) problem {
	switch {
	case errors.Is(err, errHostNotAllowed):
		return problem{http.StatusBadRequest, "host_not_allowed", "Bad request", "This host is not served here."}
	case errors.Is(err, canonical.ErrInvalid), errors.Is(err, errBadRequest):
		return problem{http.StatusBadRequest, "bad_request", "Bad request", "The request could not be understood."}
	case errors.Is(err, errCSRF):
		return problem{http.StatusForbidden, "csrf_failed", "Forbidden", "CSRF verification failed. Reload the page and try again."}
	case errors.Is(err, errBadCredentials):
		return problem{http.StatusUnauthorized, "invalid_credentials", "Sign-in failed", "The credentials sent with the request are not valid."}
	case errors.Is(err, errLoginRequired):
		return problem{http.StatusUnauthorized, "not_authenticated", "Sign-in required", "Authentication credentials were not provided."}
	case errors.Is(err, errForbidden), errors.Is(err, authz.ErrUndefined):
		return problem{http.StatusForbidden, "permission_denied", "Forbidden", "You do not have permission to access this page."}
	case errors.Is(err, errNotFound), errors.Is(err, errNoUpstream):
		return problem{http.StatusNotFound, "not_found", "Not found", "The requested resource was not found."}
	case errors.Is(err, errMethodNotAllowed):
		return problem{http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "That method is not allowed here."}
	case errors.Is(err, errTooLarge):
		return problem{http.StatusRequestEntityTooLarge, "too_large", "Request too large", "The request body is larger than the gateway accepts."}
	case errors.Is(err, errMultipartOverride):
		return problem{http.StatusBadRequest, "method_override_refused", "Bad request", "A multipart form may not carry a _method field."}
	case errors.Is(err, errUpgradeRefused):
		return problem{http.StatusBadRequest, "upgrade_refused", "Bad request", "Only WebSocket upgrades are supported."}
	case errors.Is(err, errUnsupportedMedia):
		return problem{http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type", "Send application/json or a form."}
	case errors.Is(err, throttle.ErrLocked):
		return problem{http.StatusTooManyRequests, "too_many_attempts", "Too many attempts", lockedMessage}
	case errors.Is(err, sessionstore.ErrUnavailable), errors.Is(err, authn.ErrUnavailable), errors.Is(err, throttle.ErrUnavailable):
		return problem{http.StatusServiceUnavailable, "unavailable", "Service unavailable", "The gateway cannot reach its session store. Try again shortly."}
	case errors.Is(err, tokens.ErrUnavailable): // the token store, or an identity provider's keys
		return problem{http.StatusServiceUnavailable, "unavailable", "Service unavailable", "The gateway cannot verify credentials right now. Try again shortly."}
	case errors.Is(err, proxy.ErrUpstreamTimeout):
		return problem{http.StatusGatewayTimeout, "upstream_timeout", "Gateway timeout", "The application did not answer in time."}
	case errors.Is(err, proxy.ErrUpstreamUnavailable):
		return problem{http.StatusBadGateway, "upstream_unavailable", "Bad gateway", "The application is not reachable."}
	default: // includes authz.ErrPolicy: fail closed
		return problem{http.StatusInternalServerError, "internal_error", "Server error", "The gateway could not process this request."}
	}
}

// fail writes the error response and stops the gin chain.
func (s *Server) fail(c *gin.Context, err error) {
	s.writeError(c.Writer, c.Request, err)
	c.Abort()
}

// writeError maps err to a status and writes an HTML page for browsers
// or JSON for programs. An anonymous browser refused by the policy is
// sent to the login page instead.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := state(r)
	p := classify(err)
	h := w.Header()
	if p.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	if p.status == http.StatusTooManyRequests && st.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((st.retryAfter+time.Second-1)/time.Second), 10))
	}
	var ce *credentialsError
	if errors.As(err, &ce) {
		// Bad credentials in a recognised scheme: challenge in that scheme,
		// never a redirect to the login page (a browser would lose the
		// prompt it answers Basic with).
		if ce.challenge != "" {
			h.Set("WWW-Authenticate", ce.challenge)
		}
		writeJSON(w, p.status, map[string]any{"error": p.code, "message": p.message, "request_id": st.id})
		return
	}
	if p.status == http.StatusUnauthorized {
		for _, c := range s.challenges {
			h.Add("WWW-Authenticate", c)
		}
	}
	if p.status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, POST")
	}
	h.Set("Cache-Control", "no-store")
	next := st.path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if wantsHTML(r) {
		if p.status == http.StatusUnauthorized {
			http.Redirect(w, r, s.prefix+"/login?next="+url.QueryEscape(next), http.StatusFound)
			return
		}
		s.setSecurityHeaders(h)
		s.render(w, r, p.status, "message", pageData{
			Title: p.heading, Heading: p.heading, Message: p.message,
			ShowLogin: p.status == http.StatusForbidden && !st.principal.IsAuthenticated() && !errors.Is(err, errCSRF),
			Next:      url.QueryEscape(next),
		})
		return
	}
	writeJSON(w, p.status, map[string]any{"error": p.code, "message": p.message, "request_id": st.id})
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

//go:embed templates
var templateFS embed.FS

// pageData is what every page template sees.
type pageData struct {
	Title, Heading, Message string
	SiteName, Prefix        string
	RequestID               string
	CSRFToken               string
	Next, NextDisplay       string
	Username, Error         string
	ShowLogin               bool
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "logout", "message"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	d.SiteName, d.Prefix, d.RequestID = s.siteName, s.prefix, state(r).id
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		s.log.Error("render page", "page", page, "error", err)
	}
}

// securityHeaders marks every gateway page uncacheable, unframeable and
// restricted to its own stylesheet.
func (s *Server) securityHeaders(c *gin.Context) { s.setSecurityHeaders(c.Writer.Header()) }

func (s *Server) setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
