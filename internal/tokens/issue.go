package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/djangate/gateway/internal/profile"
)

// MaxAccessTokenLen caps the length of a token VerifyAccess parses. The
// gateway's own access tokens are well under 1 KiB.
const MaxAccessTokenLen = 8 << 10

// Token types ("typ" header).
const (
	typAccess    = "at+jwt" // RFC 9068
	typAccessApp = "application/at+jwt"
	typAssertion = "JWT"
)

// IssuerOptions configure an Issuer.
type IssuerOptions struct {
	Keys      *KeySet
	Issuer    string           // "iss" of every token, e.g. "https://gw.example.com/_gateway"
	Audience  string           // "aud" of access tokens, e.g. "djangate"
	AccessTTL time.Duration    // e.g. 5m
	Leeway    time.Duration    // clock skew allowed on exp/nbf/iat, e.g. 30s
	Now       func() time.Time // nil = time.Now; tests inject
}

// Issuer signs the gateway's access tokens and upstream assertions with
// the signer of its KeySet, and verifies access tokens against every key
// of the set. It is safe for concurrent use.
type Issuer struct {
	keys     *KeySet
	signer   *Key
	iss, aud string
	ttl      time.Duration
	leeway   time.Duration
	now      func() time.Time

	// Precomputed: the base64url headers of the signer's tokens, the
	// parser and its keyfunc.
	accessHeader, assertHeader string
	parser                     *jwt.Parser
	keyfunc                    jwt.Keyfunc
	validAlgs                  []string
}

// NewIssuer checks o and returns an Issuer.
func NewIssuer(o IssuerOptions) (*Issuer, error) {
	switch {
	case o.Keys == nil || len(o.Keys.keys) == 0:
		return nil, errors.New("token issuer: no keys")
	case o.Issuer == "":
		return nil, errors.New("token issuer: empty issuer")
	case o.Audience == "":
		return nil, errors.New("token issuer: empty audience")
	case o.AccessTTL <= 0:
		return nil, fmt.Errorf("token issuer: access token lifetime must be positive, got %s", o.AccessTTL)
	case o.Leeway < 0:
		return nil, fmt.Errorf("token issuer: leeway must not be negative, got %s", o.Leeway)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	i := &Issuer{
		keys: o.Keys, signer: o.Keys.Signer(),
		iss: o.Issuer, aud: o.Audience, ttl: o.AccessTTL, leeway: o.Leeway, now: now,
		validAlgs: o.Keys.algs(),
	}
	var err error
	if i.accessHeader, err = encodeHeader(i.signer, typAccess); err != nil {
		return nil, err
	}
	if i.assertHeader, err = encodeHeader(i.signer, typAssertion); err != nil {
		return nil, err
	}
	i.parser = jwt.NewParser(
		jwt.WithValidMethods(i.validAlgs),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithLeeway(o.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	i.keyfunc = i.accessKey
	return i, nil
}

// encodeHeader is the base64url JOSE header of k's tokens of type typ.
func encodeHeader(k *Key, typ string) (string, error) {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg, k.kid, typ})
	if err != nil {
		return "", fmt.Errorf("token issuer: encode header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(h), nil
}

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	jwt.RegisteredClaims        // iss, sub (user id, decimal), aud, exp, nbf, iat, jti (random 128-bit, base64url)
	Username             string `json:"username"`
	Family               string `json:"fam"` // refresh-token family the token belongs to
	AuthBind             string `json:"abd"` // binds the token to the user's credentials, see AuthBinding
}

// UserID is the subject as a user id (0 if it is not one).
func (c *AccessClaims) UserID() int64 {
	id, _ := parseUserID(c.Subject)
	return id
}

// newJTI returns a random 128-bit token id, base64url.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// sign returns header.payload.signature with claims marshalled as JSON.
func (i *Issuer) sign(header string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	n := len(header) + 1 + enc.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+enc.EncodedLen(512)) // room for an RSA-4096 signature
	copy(buf, header)
	buf[len(header)] = '.'
	enc.Encode(buf[len(header)+1:], payload)
	sig, err := i.signer.method.Sign(string(buf), i.signer.priv)
	if err != nil {
		return "", fmt.Errorf("sign with key %q: %w", i.signer.kid, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// Access signs an access token for the user, in the refresh-token family
// family, bound to the user's credentials by authBind (AuthBinding). It
// returns the token and its claims.
func (i *Issuer) Access(userID int64, username, family, authBind string) (token string, c *AccessClaims, err error) {
	const op = "sign access token"
	switch {
	case userID <= 0:
		return "", nil, fmt.Errorf("%s: user id must be positive, got %d", op, userID)
	case family == "":
		return "", nil, errors.New(op + ": empty family")
	}
	jti, err := newJTI()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	now := i.now()
	c = &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.iss,
			Subject:   strconv.FormatInt(userID, 10),
			Audience:  jwt.ClaimStrings{i.aud},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Username: username,
		Family:   family,
		AuthBind: authBind,
	}
	token, err = i.sign(i.accessHeader, c)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	return token, c, nil
}

// keyError is a keyfunc rejection; its text is a fixed reason, never
// anything taken from the token.
type keyError string

func (e keyError) Error() string { return string(e) }

const (
	errWrongTyp    = keyError("wrong typ header")
	errCrit        = keyError("unsupported crit header")
	errNoKID       = keyError("missing kid header")
	errUnknownKID  = keyError("unknown kid")
	errAlgMismatch = keyError("alg does not match the key")
)

// accessKey is the keyfunc of VerifyAccess: the header must be typ
// at+jwt with no crit, name a known kid, and carry that key's algorithm.
func (i *Issuer) accessKey(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); typ != typAccess && typ != typAccessApp {
		return nil, errWrongTyp
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKID
	}
	k, ok := i.keys.Lookup(kid)
	if !ok {
		return nil, errUnknownKID
	}
	if t.Method == nil || t.Method.Alg() != k.alg {
		return nil, errAlgMismatch
	}
	return k.pub, nil
}

// invalid wraps ErrInvalidToken with a fixed reason.
func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, reason) }

// VerifyAccess verifies an access token signed by a key of the set and
// returns its claims. It requires header typ "at+jwt" (or its long form
// "application/at+jwt", RFC 9068 section 4), no crit, a kid of the set
// and that key's alg; iss and aud as configured; exp and iat (not in the
// future), nbf if present, each with the leeway; sub a positive decimal
// user id; jti and fam non-empty. Tokens longer than MaxAccessTokenLen
// are not parsed. Every failure wraps ErrInvalidToken with a short
// reason that never includes the token.
func (i *Issuer) VerifyAccess(token string) (*AccessClaims, error) {
	switch {
	case token == "":
		return nil, invalid("empty")
	case len(token) > MaxAccessTokenLen:
		return nil, invalid("too long")
	}
	c := new(AccessClaims)
	t, err := i.parser.ParseWithClaims(token, c, i.keyfunc)
	if err != nil {
		return nil, invalid(i.reason(t, err))
	}
	switch {
	case c.IssuedAt == nil:
		return nil, invalid("missing iat")
	case c.ID == "":
		return nil, invalid("missing jti")
	case c.Family == "":
		return nil, invalid("missing fam")
	}
	if _, ok := parseUserID(c.Subject); !ok {
		return nil, invalid("sub is not a user id")
	}
	return c, nil
}

// reason maps a parse error to a fixed, token-free reason.
func (i *Issuer) reason(t *jwt.Token, err error) string {
	var ke keyError
	switch {
	case errors.As(err, &ke):
		return string(ke)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil && !i.algValid(t.Method.Alg()) {
			return "alg not accepted"
		}
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "alg not accepted"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong iss"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong aud"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrInvalidType):
		return "claim of the wrong type"
	default:
		return "invalid claims"
	}
}

func (i *Issuer) algValid(alg string) bool {
	for _, a := range i.validAlgs {
		if a == alg {
			return true
		}
	}
	return false
}

// parseUserID parses a positive decimal int64 in canonical form (no
// sign, no leading zeros).
func parseUserID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for j := 1; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// Assertion is the signed identity the gateway sends to an upstream.
type Assertion struct {
	UserID               int64
	Username, Email      string
	Groups               []string
	IsStaff, IsSuperuser bool
	SessionHash          string // sha256 hex of the session id, "" when not a session
	Backend              string // "session", "bearer", ...
	Audience             string // the upstream's name
	// Profile is the user's effective profile, sent as the "profile"
	// claim (omitted when empty).
	Profile profile.Values
}

// assertionClaims is the payload of an assertion JWT.
type assertionClaims struct {
	Iss         string         `json:"iss"`
	Sub         string         `json:"sub"`
	Aud         string         `json:"aud"`
	Iat         int64          `json:"iat"`
	Nbf         int64          `json:"nbf"`
	Exp         int64          `json:"exp"`
	Jti         string         `json:"jti"`
	Username    string         `json:"username"`
	Email       string         `json:"email"`
	Groups      []string       `json:"groups"`
	IsStaff     bool           `json:"is_staff"`
	IsSuperuser bool           `json:"is_superuser"`
	Sid         string         `json:"sid,omitempty"`
	Backend     string         `json:"backend"`
	Profile     map[string]any `json:"profile,omitempty"`
}

// profileClaim is the "profile" claim (profile.Values.Plain); nil when
// there are no values, so the claim is left out.
func profileClaim(v profile.Values) map[string]any {
	if len(v) == 0 {
		return nil
	}
	return v.Plain()
}

// Assert signs a for its upstream (header typ "JWT"), valid for ttl from
// now: claims iss, sub, aud (the upstream, a single string), iat,
// nbf = iat, exp = iat + ttl, jti, username, email, groups (never null),
// is_staff, is_superuser, sid (only for sessions), backend.
func (i *Issuer) Assert(a Assertion, ttl time.Duration) (string, error) {
	const op = "sign assertion"
	switch {
	case a.UserID <= 0:
		return "", fmt.Errorf("%s: user id must be positive, got %d", op, a.UserID)
	case a.Audience == "":
		return "", errors.New(op + ": empty audience")
	case ttl < time.Second:
		return "", fmt.Errorf("%s: lifetime must be at least 1s, got %s", op, ttl)
	}
	jti, err := newJTI()
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	groups := a.Groups
	if groups == nil {
		groups = []string{}
	}
	iat := i.now().Unix()
	tok, err := i.sign(i.assertHeader, &assertionClaims{
		Iss: i.iss, Sub: strconv.FormatInt(a.UserID, 10), Aud: a.Audience,
		Iat: iat, Nbf: iat, Exp: iat + int64(ttl/time.Second), Jti: jti,
		Username: a.Username, Email: a.Email, Groups: groups,
		IsStaff: a.IsStaff, IsSuperuser: a.IsSuperuser,
		Sid: a.SessionHash, Backend: a.Backend, Profile: profileClaim(a.Profile),
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return tok, nil
}

// AuthBinding binds tokens to the user's credentials: HMAC-SHA256 under
// key of "gateway token binding v1", the decimal user id and the user's
// auth secret (NUL-separated), first 16 bytes, base64url. A token whose
// binding no longer matches the user's (their password changed since) is
// dead. Compare bindings with hmac.Equal.
func AuthBinding(key []byte, userID int64, authSecret string) string {
	m := hmac.New(sha256.New, key)
	var buf [64]byte
	b := append(buf[:0], "gateway token binding v1\x00"...)
	b = strconv.AppendInt(b, userID, 10)
	b = append(b, 0)
	m.Write(b)
	m.Write([]byte(authSecret))
	sum := m.Sum(buf[:0])
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
