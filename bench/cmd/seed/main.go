// Command seed fills the benchmark's Redis through the gateway's own
// stores (internal/authn, internal/sessionstore), so the keys are exactly
// what the gateway writes and reads. It reads the gateway's configuration
// file (and GATEWAY_* variables, GATEWAY_SECRET_KEY included) for the
// Redis address, key prefix, password hashers, session lifetime and
// secret key.
//
//	seed -config FILE fixtures -password PW
//	    groups editors, reporters (reports.view_report) and group45
//	    (app45.view_m995, for the 1,000-route table of bench/cmd/routes);
//	    users alice (editors, reporters), bob (no groups, no permissions)
//	    and carol (editors, reporters, group45), all with password PW.
//
//	seed -config FILE bulk -users N -sessions M [-cookies-out FILE]
//	    N users bulk0000001... shaped like alice (groups editors and
//	    reporters, the same password hash), then M live sessions spread
//	    round-robin over them. Prints key=value lines: used_memory (INFO
//	    memory) before and after each phase, the delta per user and per
//	    session, MEMORY USAGE of one user's keys and one session's key,
//	    and sample_cookie=<a session id> (the value of the session cookie).
//	    -cookies-out writes every session id, one a line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/sessionstore"
)

type env struct {
	cfg      *config.Config
	rdb      *redis.Client
	users    *authn.Store
	sessions *sessionstore.Store
	hashers  *authn.Hashers
	base     string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("seed: ")
	cfgPath := flag.String("config", "", "the gateway's configuration file")
	workers := flag.Int("workers", 4*runtime.NumCPU(), "concurrent Redis writers")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: seed -config FILE [-workers N] fixtures -password PW")
		fmt.Fprintln(os.Stderr, "       seed -config FILE [-workers N] bulk -users N -sessions M [-password PW] [-cookies-out FILE]")
	}
	flag.Parse()
	if flag.NArg() < 1 || *cfgPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		log.Fatalf("configuration: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{
		Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
		PoolSize: *workers + 2, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Fatalf("redis %s: %v", cfg.Redis.Addr, err)
	}
	hs, err := authn.NewHashers(cfg.PasswordHashers, cfg.PasswordHashConcurrency)
	if err != nil {
		log.Fatal(err)
	}
	e := &env{
		cfg: cfg, rdb: rdb, hashers: hs,
		users:    authn.NewStore(rdb, cfg.Redis.KeyPrefix, hs),
		sessions: sessionstore.New(rdb, cfg.Redis.KeyPrefix),
		base:     authn.KeyBase(cfg.Redis.KeyPrefix),
	}
	args := flag.Args()[1:]
	switch flag.Arg(0) {
	case "fixtures":
		fs := flag.NewFlagSet("fixtures", flag.ExitOnError)
		pw := fs.String("password", "", "password of alice, bob and carol")
		fs.Parse(args)
		if *pw == "" {
			log.Fatal("fixtures: -password is required")
		}
		if err := e.fixtures(ctx, *pw); err != nil {
			log.Fatal(err)
		}
	case "bulk":
		fs := flag.NewFlagSet("bulk", flag.ExitOnError)
		n := fs.Int("users", 1000, "users to create")
		m := fs.Int("sessions", 1000, "sessions to create, round-robin over the users")
		pw := fs.String("password", "bulk-bench-password", "the users' password (hashed once, shared)")
		out := fs.String("cookies-out", "", "write every session id to this file, one a line")
		fs.Parse(args)
		if err := e.bulk(ctx, *n, *m, *pw, *out, *workers); err != nil {
			log.Fatal(err)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func (e *env) fixtures(ctx context.Context, pw string) error {
	perms := map[string]string{"reporters": "reports.view_report", "group45": "app45.view_m995"}
	if err := e.users.RegisterPermissions(ctx, "reports.view_report", "app45.view_m995"); err != nil {
		return err
	}
	for _, g := range []string{"editors", "reporters", "group45"} {
		if err := e.users.CreateGroup(ctx, g); err != nil && !errors.Is(err, authn.ErrGroupExists) {
			return err
		}
		if p := perms[g]; p != "" {
			if err := e.users.GrantGroupPermission(ctx, g, p); err != nil {
				return err
			}
		}
	}
	members := map[string][]string{
		"alice": {"editors", "reporters"},
		"bob":   nil,
		"carol": {"editors", "reporters", "group45"},
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		u := &authn.User{Username: name, Email: name + "@example.com", IsActive: true}
		if _, err := e.users.CreateUser(ctx, u, pw); err != nil {
			return err
		}
		for _, g := range members[name] {
			if err := e.users.AddUserToGroup(ctx, name, g); err != nil {
				return err
			}
		}
	}
	fmt.Println("fixtures: alice (editors, reporters), bob (none), carol (editors, reporters, group45)")
	return nil
}

// usedMemory is INFO memory's used_memory, in bytes.
func (e *env) usedMemory(ctx context.Context) (int64, error) {
	info, err := e.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory: no used_memory")
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	var failed atomic.Bool
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func (e *env) bulk(ctx context.Context, n, m int, pw, cookiesOut string, workers int) error {
	if n < 1 || m < 0 {
		return errors.New("bulk: -users must be positive and -sessions not negative")
	}
	for _, g := range []string{"editors", "reporters"} {
		if err := e.users.CreateGroup(ctx, g); err != nil && !errors.Is(err, authn.ErrGroupExists) {
			return err
		}
	}
	enc, err := e.hashers.Make(pw)
	if err != nil {
		return err
	}
	mem0, err := e.usedMemory(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	ids := make([]int64, n)
	err = parallel(n, workers, func(i int) error {
		name := fmt.Sprintf("bulk%07d", i+1)
		u, err := e.users.CreateUser(ctx, &authn.User{Username: name, Email: name + "@example.com", IsActive: true, Password: enc}, "")
		if err != nil {
			return err
		}
		ids[i] = u.ID
		for _, g := range []string{"editors", "reporters"} {
			if err := e.users.AddUserToGroup(ctx, name, g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	usersTook := time.Since(start)
	mem1, err := e.usedMemory(ctx)
	if err != nil {
		return err
	}

	authKey := authn.SessionAuthKey(e.cfg.SecretKey)
	lt := sessionstore.Lifetime{MaxAge: e.cfg.Session.MaxAge, Idle: e.cfg.Session.IdleTimeout, Refresh: e.cfg.Session.RefreshInterval}
	cookies := make([]string, m)
	start = time.Now()
	err = parallel(m, workers, func(j int) error {
		uid := ids[j%n]
		// AuthSecret is empty until a user's first password change
		// (authn.User), as for these users.
		id, err := e.sessions.Create(ctx, &sessionstore.Session{
			UserID: uid, Backend: "session", ClientIP: "127.0.0.1", UserAgent: "wrk",
			AuthHash: authn.SessionAuthHash(authKey, uid, ""),
		}, lt)
		cookies[j] = id
		return err
	})
	if err != nil {
		return err
	}
	sessionsTook := time.Since(start)
	mem2, err := e.usedMemory(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("users=%d\nsessions=%d\n", n, m)
	fmt.Printf("seed_users_seconds=%.1f\nseed_sessions_seconds=%.1f\n", usersTook.Seconds(), sessionsTook.Seconds())
	fmt.Printf("used_memory_before=%d\nused_memory_after_users=%d\nused_memory_after_sessions=%d\n", mem0, mem1, mem2)
	fmt.Printf("used_memory_per_user=%.0f\n", float64(mem1-mem0)/float64(n))
	if m > 0 {
		fmt.Printf("used_memory_per_session=%.0f\n", float64(mem2-mem1)/float64(m))
	}
	// MEMORY USAGE (all samples) of one user's keys and, if any, its first session.
	k := rand.IntN(n)
	uid := strconv.FormatInt(ids[k], 10)
	userKeys := []string{"user:" + uid, "user:" + uid + ":groups", "user:" + uid + ":perms"}
	for _, key := range userKeys {
		v, err := e.rdb.MemoryUsage(ctx, e.base+key, 0).Result()
		switch {
		case errors.Is(err, redis.Nil):
			fmt.Printf("memory_usage[%s]=absent\n", memName(key))
		case err != nil:
			return err
		default:
			fmt.Printf("memory_usage[%s]=%d\n", memName(key), v)
		}
	}
	if m > 0 {
		key := authn.SessionKey(e.base, sessionstore.KeyID(cookies[k%m]))
		v, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			return fmt.Errorf("MEMORY USAGE %s: %w", key, err)
		}
		fmt.Printf("memory_usage[s:<key id>]=%d\n", v)
		for _, key := range []string{authn.UserKey(e.base, ids[k]), key} {
			enc, err := e.rdb.ObjectEncoding(ctx, key).Result()
			if err != nil {
				return fmt.Errorf("OBJECT ENCODING %s: %w", key, err)
			}
			fmt.Printf("encoding[%s]=%s\n", memName(strings.TrimPrefix(key, e.base)), enc)
		}
		fmt.Printf("sample_cookie=%s\n", cookies[rand.IntN(m)])
	}
	if cookiesOut != "" {
		if err := os.WriteFile(cookiesOut, []byte(strings.Join(cookies, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// memName replaces the user id in a key by <id>.
func memName(key string) string {
	parts := strings.Split(key, ":")
	parts[1] = "<id>"
	return strings.Join(parts, ":")
}
