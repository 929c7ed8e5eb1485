package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// csrfFormField is the form field carrying the token (Django's name, so
// templates ported from Django read the same).
const csrfFormField = "csrfmiddlewaretoken"

var errCSRF = errors.New("CSRF verification failed")

// csrf issues and checks signed double-submit tokens: the cookie holds
// nonce "." HMAC(secret, nonce); a state-changing form must echo the same
// value. An attacker who cannot read or write the victim's cookies cannot
// produce a pair, and one who can plant a cookie (a sibling subdomain)
// cannot sign it without the secret.
type csrf struct {
	key        []byte
	cookieName string
	secure     bool
	domain     string
}

func newCSRF(secret, cookieName string, secure bool, domain string) *csrf {
	// Derive a purpose-bound key so the secret is never used raw.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("gateway csrf token v1"))
	return &csrf{key: m.Sum(nil), cookieName: cookieName, secure: secure, domain: domain}
}

func (c *csrf) sign(nonce string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(nonce))
	return nonce + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *csrf) valid(token string) bool {
	nonce, _, ok := strings.Cut(token, ".")
	if !ok || len(token) > 128 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.sign(nonce)), []byte(token)) == 1
}

func (c *csrf) newToken() string {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux ≥ 3.17
	}
	return c.sign(base64.RawURLEncoding.EncodeToString(buf))
}

// token returns the request's valid CSRF token, issuing (and setting) a
// new one when it has none.
func (c *csrf) token(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.cookieName); err == nil && c.valid(ck.Value) {
		return ck.Value
	}
	return c.rotate(w)
}

// rotate issues a fresh token, as Django does on login.
func (c *csrf) rotate(w http.ResponseWriter) string {
	t := c.newToken()
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName, Value: t, Path: "/", Domain: c.domain,
		MaxAge: 365 * 24 * 3600, Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return t
}

// check verifies a form POST: the cookie and the form field must carry the
// same validly signed token.
func (c *csrf) check(r *http.Request, formToken string) error {
	ck, err := r.Cookie(c.cookieName)
	if err != nil {
		return errors.Join(errCSRF, errors.New("CSRF cookie not set"))
	}
	if !c.valid(ck.Value) {
		return errors.Join(errCSRF, errors.New("CSRF cookie has an invalid signature"))
	}
	if subtle.ConstantTimeCompare([]byte(ck.Value), []byte(formToken)) != 1 {
		return errors.Join(errCSRF, errors.New("CSRF token missing or incorrect"))
	}
	return nil
}

// checkOrigin rejects a cross-origin state-changing request, as Django's
// CsrfViewMiddleware does. When the browser sends Origin it must name this
// host (or an allowed host); "null" (sandboxed frames, some redirects) is
// refused, and on HTTPS an http:// origin is too. Without Origin, an HTTPS
// request must carry a Referer from an https:// page of this host: a
// man-in-the-middle on plain HTTP could otherwise plant a cookie and post
// from an http:// page. Plain-HTTP requests without Origin rely on the
// token alone, as in Django. A JSON request (application/json, which no
// page can send cross-site without a CORS preflight the gateway never
// grants) needs no Referer: programs calling the API over HTTPS send none.
func checkOrigin(r *http.Request, allowedHosts []string) error {
	secure := scheme(r) == "https"
	hosts := append([]string{r.Host}, allowedHosts...)
	origin := r.Header.Get("Origin")
	if origin == "" {
		if !secure || isJSON(r) {
			return nil
		}
		referer := r.Header.Get("Referer")
		if referer == "" {
			return errors.Join(errCSRF, errors.New("Referer checking failed: no Referer on an HTTPS request without Origin"))
		}
		u, err := url.Parse(referer)
		if err != nil || u.Host == "" {
			return errors.Join(errCSRF, errors.New("Referer checking failed: Referer is malformed"))
		}
		if u.Scheme != "https" {
			return errors.Join(errCSRF, errors.New("Referer checking failed: Referer is insecure while the request is secure"))
		}
		if !hostAllowed(u.Host, hosts) {
			return errors.Join(errCSRF, errors.New("Referer checking failed: Referer does not match the gateway's host"))
		}
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.Join(errCSRF, errors.New("Origin header is not a valid origin"))
	}
	if secure && u.Scheme != "https" {
		return errors.Join(errCSRF, errors.New("Origin is insecure while the request is secure"))
	}
	if hostAllowed(u.Host, hosts) {
		return nil
	}
	return errors.Join(errCSRF, errors.New("Origin does not match the gateway's host"))
}

// isJSON reports whether the request body is declared application/json.
// Browsers cannot send it cross-site without a CORS preflight, which the
// gateway never grants, so JSON endpoints need no form token.
func isJSON(r *http.Request) bool {
	return hasMediaType(r.Header.Get("Content-Type"), "application/json")
}

// hasMediaType reports whether a Content-Type header names the media type
// want, ignoring parameters such as charset.
func hasMediaType(header, want string) bool {
	mt, _, _ := strings.Cut(header, ";")
	return strings.EqualFold(strings.TrimSpace(mt), want)
}
