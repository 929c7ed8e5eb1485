package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/policies"
)

// User is a seeded demo account.
type User struct {
	Username, Password, About string
}

// Env is a running demo: the in-process store, the demo app, and the
// configuration for a gateway in front of it.
type Env struct {
	Config *config.Config
	Redis  *redis.Client
	Users  []User
	store  *miniredis.Miniredis
	app    *http.Server
}

// Start launches the in-process store and the demo app, seeds the demo
// users, and returns a configuration for a gateway in front of the app.
// The caller binds the gateway's listener.
func Start(ctx context.Context) (*Env, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("demo store: %w", err)
	}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		mr.Close()
		return nil, fmt.Errorf("demo app: %w", err)
	}
	cfg := config.Default()
	cfg.SecretKey = randomString(48)
	insecure := false
	cfg.Session.Secure = &insecure // the demo is plain HTTP on localhost
	cfg.Redis.Addr = mr.Addr()
	cfg.Upstreams = []config.Upstream{{Name: "demo-app", URL: "http://" + appLn.Addr().String()}}
	cfg.Log.Format = "text"
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		mr.Close()
		appLn.Close()
		return nil, fmt.Errorf("demo config: %w", err)
	}
	app := &http.Server{
		Handler:           App(cfg.Prefix, []string{cfg.IdentityHeaders.User, cfg.IdentityHeaders.Email, cfg.IdentityHeaders.Groups}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = app.Serve(appLn) }()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	env := &Env{Config: cfg, Redis: rdb, store: mr, app: app}
	if err := env.seed(ctx); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// seed creates the demo users, groups and permissions.
func (e *Env) seed(ctx context.Context) error {
	hs, err := authn.NewHashers(e.Config.PasswordHashers, e.Config.PasswordHashConcurrency)
	if err != nil {
		return err
	}
	st := authn.NewStore(e.Redis, e.Config.Redis.KeyPrefix, hs)
	// The embedded policy's models (policies/models.yaml) and the built-in
	// ones, as `gateway serve` declares them.
	engine, err := authz.New(ctx, authz.Options{FS: policies.FS, Source: "embedded", Logger: slog.New(slog.DiscardHandler), MemoSize: config.DefaultCacheDecisions})
	if err != nil {
		return err
	}
	if err := st.DeclareModels(ctx, append(authn.BuiltinModels(), engine.Models()...)...); err != nil {
		return err
	}
	if err := st.CreateGroup(ctx, "editors"); err != nil {
		return err
	}
	for _, p := range []string{"blog.view_post", "blog.add_post", "blog.change_post"} {
		if err := st.GrantGroupPermission(ctx, "editors", p); err != nil {
			return err
		}
	}
	seeds := []struct {
		u     authn.User
		about string
		setup func(username string) error
	}{
		{authn.User{Username: "admin", Email: "admin@example.com", FirstName: "Ada", LastName: "Admin", IsActive: true, IsStaff: true, IsSuperuser: true},
			"superuser: every page", nil},
		{authn.User{Username: "editor", Email: "editor@example.com", FirstName: "Eddie", LastName: "Editor", IsActive: true},
			"group editors (blog.view/add/change_post) + reports.view_report", func(u string) error {
				if err := st.AddUserToGroup(ctx, u, "editors"); err != nil {
					return err
				}
				return st.GrantUserPermission(ctx, u, "reports.view_report")
			}},
		{authn.User{Username: "viewer", Email: "viewer@example.com", FirstName: "Vic", LastName: "Viewer", IsActive: true},
			"no groups, no permissions: login-only pages", nil},
		{authn.User{Username: "former", Email: "former@example.com", IsActive: false},
			"inactive: cannot sign in", nil},
	}
	for _, s := range seeds {
		u := s.u
		pw := randomString(12)
		if _, err := st.CreateUser(ctx, &u, pw); err != nil {
			return fmt.Errorf("demo user %s: %w", u.Username, err)
		}
		if s.setup != nil {
			if err := s.setup(u.Username); err != nil {
				return fmt.Errorf("demo user %s: %w", u.Username, err)
			}
		}
		e.Users = append(e.Users, User{Username: u.Username, Password: pw, About: s.about})
	}
	return nil
}

// Banner says loudly what this is and how to use it.
func (e *Env) Banner(w io.Writer, gatewayURL string) {
	fmt.Fprintf(w, `
================================================================================
  DEMO MODE — in-process demo store (miniredis): data lives in memory only and
  is lost on exit. Not for production: use 'gateway serve' with a real Redis.
================================================================================
  Gateway:   %s/            (login page: %s%s/login)
  Demo app:  %s  (behind the gateway; shows the identity headers)
  Policy:    the embedded default policy (policies/ in the source tree)

  Demo users (passwords are new on every start):
`, gatewayURL, gatewayURL, e.Config.Prefix, e.Config.Upstreams[0].URL)
	for _, u := range e.Users {
		fmt.Fprintf(w, "    %-8s %-14s %s\n", u.Username, u.Password, u.About)
	}
	fmt.Fprintf(w, `
  Try:  open %s/account/ in a browser, or with curl:
    curl -c jar -b jar -H 'Content-Type: application/json' \
         -d '{"username":"editor","password":"<password above>"}' %s%s/login
    curl -b jar %s/editors/
================================================================================

`, gatewayURL, gatewayURL, e.Config.Prefix, gatewayURL)
}

// Close stops the demo app and the store.
func (e *Env) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.app.Shutdown(ctx)
	_ = e.Redis.Close()
	e.store.Close()
}

// Logger is the demo's human-readable logger.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func randomString(n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(buf)[:n]
}
