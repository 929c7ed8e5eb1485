package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/metrics"
	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/redisclient"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/policies"
)

func cmdCheckConfig(_ context.Context, env *runEnv, args []string) error {
	flags := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := env.configFlag(flags)
	if _, err := parse(flags, args, 0, 0); err != nil {
		return err
	}
	if _, err := env.loadConfig(*path, true); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: configuration is valid\n", *path)
	return nil
}

func cmdServe(ctx context.Context, env *runEnv, args []string) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := env.configFlag(flags)
	if _, err := parse(flags, args, 0, 0); err != nil {
		return err
	}
	cfg, err := env.loadConfig(*path, true)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, env.Stderr)
	redis.SetLogger(redisLog{log}) // go-redis has only a process-wide logger
	rdb, err := newRedis(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// Connectivity is readiness, not configuration: start anyway and
	// answer 503 to requests that need a session until Redis is back.
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Warn("redis not reachable at start; requests that need a session get 503 until it is", "redis", redisclient.Where(cfg.Redis), "error", err)
	}
	return run(ctx, cfg, rdb, log)
}

// buildServer wires the stores, the policy engine and the server.
func buildServer(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) (*server.Server, *authz.Engine, error) {
	hashers, err := newHashers(cfg)
	if err != nil {
		return nil, nil, err
	}
	users := authn.NewStore(rdb, cfg.Redis.KeyPrefix, hashers)
	users.SetLogger(log)
	m := metrics.New()
	rdb.AddHook(m.RedisHook())
	m.RegisterRedisPool(rdb)
	opts := policyOptions(cfg.Policy, log)
	if cfg.Cache.On() {
		opts.MemoSize = cfg.Cache.Decisions
	}
	// Every (re)loaded policy's models are declared in the user store, as
	// Django's migrations create their permissions.
	declare := declareOnLoad(ctx, users, log)
	opts.OnLoad = func(e *authz.Engine) {
		m.PolicyLoaded(e.Revision())
		declare(e)
	}
	opts.OnReloadError = func(error) { m.PolicyReloadError() }
	engine, err := authz.New(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("policy (%s): %w", opts.Source, err)
	}
	tp, err := newTokenParts(ctx, cfg, rdb)
	if err != nil {
		return nil, nil, err
	}
	pc := principalCache(ctx, cfg, rdb, log)
	m.RegisterPrincipalCache(pc)
	m.RegisterDecisionMemo(engine.MemoStats)
	so := server.Options{
		Principals:  pc,
		Config:      cfg,
		Users:       users,
		Sessions:    sessionstore.New(rdb, cfg.Redis.KeyPrefix),
		Policy:      engine,
		Logger:      log,
		DecisionLog: decisionLogOutput(cfg.DecisionLog),
		// {prefix}/healthz: the policy revision and last reload, and a
		// Redis PING.
		PolicyStatus: engine,
		Redis:        server.PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }),
		Throttle:     newThrottle(cfg, rdb),
		Audit:        newAuditor(cfg, rdb, log),
		Metrics:      m,
	}
	tp.apply(&so)
	srv, err := server.New(so)
	if err != nil {
		return nil, nil, err
	}
	return srv, engine, nil
}

// principalCache is the principal cache kept in step with Redis's
// changes channel until ctx ends, or nil when cache.enabled is off.
func principalCache(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) *principalcache.Cache {
	if !cfg.Cache.On() {
		return nil
	}
	pc := principalcache.New(principalcache.Options{
		MaxEntries: cfg.Cache.Principals, TTL: cfg.Cache.TTL, MaxStaleness: cfg.Cache.MaxStaleness,
	})
	go pc.Listen(ctx, rdb, authn.ChangesChannel(authn.KeyBase(cfg.Redis.KeyPrefix)), log)
	return pc
}

// policyOptions are the engine's options for the configured policy:
// policy.bundle, policy.dir, or the embedded default policy.
func policyOptions(p config.Policy, log *slog.Logger) authz.Options {
	o := authz.Options{Query: p.Query, Timeout: p.Timeout, Logger: log}
	switch {
	case p.Bundle != "":
		o.Bundle, o.Source = p.Bundle, p.Bundle
	case p.Dir != "":
		o.FS, o.Source = os.DirFS(p.Dir), p.Dir
	default:
		o.FS, o.Source = fs.FS(policies.FS), "embedded default policy"
	}
	return o
}

// decisionLogOutput is where decision_log.output sends the decision log,
// or nil when it is disabled.
func decisionLogOutput(c config.DecisionLog) io.Writer {
	switch {
	case !c.Enabled:
		return nil
	case c.Output == "stdout":
		return os.Stdout
	default:
		return os.Stderr
	}
}

// run serves until ctx ends. A policy directory or bundle is watched, and
// SIGHUP reloads it: a broken edit is logged and the previous policy keeps
// serving.
func run(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) error {
	srv, engine, err := buildServer(ctx, cfg, rdb, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if key, path := watchedPolicy(cfg.Policy); path != "" {
		go func() {
			if err := engine.Watch(ctx, path); err != nil {
				log.Error("policy hot reload disabled: cannot watch "+key+"; SIGHUP still reloads", "path", path, "error", err)
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// Reload logs its own outcome (revision, or error with file:line).
				_ = engine.Reload(ctx)
			}
		}
	}()
	if cfg.Ops.Listen != "" {
		opsLn, err := net.Listen("tcp", cfg.Ops.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("ops.listen: %w", err)
		}
		ops := &http.Server{Handler: srv.OpsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = ops.Serve(opsLn) }()
		defer ops.Close()
		log.Info("operations listener", "addr", opsLn.Addr().String(), "pprof", cfg.Ops.Pprof)
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "prefix", cfg.Prefix, "policy_revision", engine.Revision(), "upstreams", len(cfg.Upstreams))
	err = srv.Run(ctx, ln, cfg.Server.ShutdownGrace)
	log.Info("gateway stopped", "error", err)
	return err
}

// watchedPolicy is the configured policy's key and path to watch for
// changes; "" for the embedded policy.
func watchedPolicy(p config.Policy) (key, path string) {
	switch {
	case p.Bundle != "":
		return "policy.bundle", p.Bundle
	case p.Dir != "":
		return "policy.dir", p.Dir
	}
	return "", ""
}
