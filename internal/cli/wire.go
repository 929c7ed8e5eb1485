package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/profile"
	"github.com/djangate/gateway/internal/redisclient"
	"github.com/djangate/gateway/internal/throttle"
)

// loadConfig loads and validates the configuration. Management commands
// never sign anything, so for them secret_key is optional.
func (e *runEnv) loadConfig(path string, needSecret bool) (*config.Config, error) {
	var optional []string
	if !needSecret {
		optional = []string{"secret_key"}
	}
	cfg, err := config.LoadOptional(path, e.Environ, optional...)
	var cerr *config.Error
	switch {
	case errors.As(err, &cerr):
		return nil, fmt.Errorf("invalid configuration:\n%w", cerr)
	case err != nil:
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return cfg, nil
}

// newLogger builds the process logger from the log section.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newRedis builds the Redis client for redis.mode (see redisclient.New).
func newRedis(c config.Redis) (redis.UniversalClient, error) {
	return redisclient.New(c)
}

// identity is what management commands work with.
type identity struct {
	store      *authn.Store
	hashers    *authn.Hashers
	validators *authn.Validators
	rdb        redis.UniversalClient
	cfg        *config.Config
	profile    *profile.Schema
}

// checker returns the password validators for u, as a CLI check. An empty
// password is refused first, as every command must.
func (id *identity) checker(u *authn.User) func(string) error {
	return func(p string) error {
		if p == "" {
			return authn.ErrEmptyPassword
		}
		if err := id.validators.Validate(p, u); err != nil {
			var pe *authn.PasswordError
			if errors.As(err, &pe) {
				return fmt.Errorf("password rejected by the password validators:\n%s", strings.Join(pe.Messages, "\n"))
			}
			return err
		}
		return nil
	}
}

func (e *runEnv) openIdentity(ctx context.Context, configPath string) (*identity, error) {
	cfg, err := e.loadConfig(configPath, false)
	if err != nil {
		return nil, err
	}
	rdb, err := newRedis(cfg.Redis)
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", redisclient.Where(cfg.Redis), err)
	}
	hs, err := newHashers(cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	vs, err := authn.NewValidators(cfg.PasswordValidators)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("password_validators: %w", err)
	}
	schema, err := cfg.ProfileSchema()
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &identity{store: authn.NewStore(rdb, cfg.Redis.KeyPrefix, hs), hashers: hs, validators: vs, rdb: rdb, cfg: cfg, profile: schema}, nil
}

func (id *identity) Close() { id.rdb.Close() }

// redisLog sends go-redis's own messages (pool dial failures) through the
// gateway's structured logger instead of bare lines on stderr.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "message", fmt.Sprintf(format, v...))
}

// newHashers builds the configured password hashers.
func newHashers(cfg *config.Config) (*authn.Hashers, error) {
	hs, err := authn.NewHashers(cfg.PasswordHashers, cfg.PasswordHashConcurrency)
	if err != nil {
		return nil, fmt.Errorf("password_hashers: %w", err)
	}
	return hs, nil
}

// modelStore is where declared models go (authn.Store).
type modelStore interface {
	DeclareModels(ctx context.Context, models ...authn.Model) error
}

// declaredRetry is how often declareOnLoad retries while Redis is down.
const declaredRetry = 5 * time.Second

// declareOnLoad returns an authz OnLoad hook that declares the built-in
// models and the policy's (data.gateway.models) in store. When Redis
// cannot be reached it logs and retries in the background until it
// succeeds, a newer policy is loaded, or ctx ends.
func declareOnLoad(ctx context.Context, store modelStore, log *slog.Logger) func(*authz.Engine) {
	var (
		mu         sync.Mutex
		generation int
	)
	return func(e *authz.Engine) {
		models := append(authn.BuiltinModels(), e.Models()...)
		mu.Lock()
		generation++
		mine := generation
		mu.Unlock()
		current := func() bool {
			mu.Lock()
			defer mu.Unlock()
			return mine == generation
		}
		declare := func() error {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return store.DeclareModels(dctx, models...)
		}
		err := declare()
		if err == nil {
			log.Info("declared models", "models", len(models), "revision", e.Revision())
			return
		}
		log.Warn("cannot declare the policy's models yet; retrying", "error", err, "every", declaredRetry)
		go func() {
			t := time.NewTicker(declaredRetry)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if !current() {
					return
				}
				if err := declare(); err == nil {
					log.Info("declared models", "models", len(models), "revision", e.Revision())
					return
				}
			}
		}()
	}
}

// declarePolicyModels declares the built-in models and those of the
// configured policy in id's store, before a command grants permissions or
// imports: it then accepts exactly what the running gateway would (which
// declares the same on every policy load). Read-only commands (dry runs,
// policy eval) don't call it. A policy that does not load is reported on
// stderr and only the built-in models are declared; grants of its
// permissions then fail with a clear error.
func (e *runEnv) declarePolicyModels(ctx context.Context, id *identity) error {
	models := authn.BuiltinModels()
	opts := policyOptions(id.cfg.Policy, slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if engine, err := authz.New(ctx, opts); err != nil {
		fmt.Fprintf(e.Stderr, "warning: policy (%s) does not load, so its models are not declared: %v\n", opts.Source, err)
	} else {
		models = append(models, engine.Models()...)
	}
	return id.store.DeclareModels(ctx, models...)
}

// newThrottle is the login throttle over rdb (server.Options.Throttle;
// the server ignores it when throttle.enabled is false).
func newThrottle(cfg *config.Config, rdb redis.Scripter) *throttle.Limiter {
	return throttle.New(rdb, cfg.Redis.KeyPrefix, throttle.ConfigFrom(cfg.Throttle))
}

// newAuditor is the auditor the configuration asks for: events logged to
// log and, when audit.enabled, appended to the audit stream.
func newAuditor(cfg *config.Config, rdb redis.Cmdable, log *slog.Logger) *audit.Auditor {
	return audit.New(rdb, audit.OptionsFrom(cfg, log))
}

// record records a management command's audit event (source cli) in the
// audit stream. The stream is the record, so the event is not printed;
// if it cannot be appended, the whole event is printed on stderr as an
// error line. The command's change stands either way.
func (e *runEnv) record(ctx context.Context, id *identity, ev audit.Event) {
	ev.Source = audit.SourceCLI
	if op := e.operator(); op != "" {
		f := map[string]string{"operator": op}
		for k, v := range ev.Fields {
			f[k] = v
		}
		ev.Fields = f
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	newAuditor(id.cfg, id.rdb, log).Record(ctx, ev)
}

// operator is who runs the command, as the environment says: the user
// behind sudo, else the login name.
func (e *runEnv) operator() string {
	for _, k := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if v, ok := e.getenv(k); ok && v != "" {
			return v
		}
	}
	return ""
}
