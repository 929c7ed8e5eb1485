package server_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
)

// defaultHashing configures Django 6.1's default PBKDF2 cost and the given
// bound on concurrent hashes.
func defaultHashing(concurrency int) func(*config.Config, *fs.FS) {
	return hashing(config.DefaultPBKDF2Iterations, concurrency)
}

func hashing(iterations, concurrency int) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.PasswordHashers = []config.PasswordHasher{{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: iterations}}
		c.PasswordHashConcurrency = concurrency
	}
}

// BenchmarkLoginOverhead compares one password check with a whole JSON
// login over HTTP (user lookup, check, session create, last_login,
// principal). At 1,000 iterations the hash is cheap, so the difference is
// the login view's own cost; at the default cost it is lost in the hash's
// run-to-run noise, so compare the two pairs, not runs of one.
func BenchmarkLoginOverhead(b *testing.B) {
	for _, iterations := range []int{1000, config.DefaultPBKDF2Iterations} {
		g := newGatewayB(b, hashing(iterations, 0))
		u, err := g.users.GetUserByUsername(context.Background(), "alice")
		if err != nil {
			b.Fatal(err)
		}
		hs, err := authn.NewHashers(g.cfg.PasswordHashers, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("pbkdf2-%d/hash-check-only", iterations), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if ok, _ := hs.Check(testPassword, u.Password); !ok {
					b.Fatal("password did not verify")
				}
			}
		})
		b.Run(fmt.Sprintf("pbkdf2-%d/json-login", iterations), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				resp := g.loginJSON(g.client(), "alice", testPassword)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("login status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkProxiedUnderLogins measures proxied-request latency (p50/p99)
// while a background loop starts 20 logins per second at the default
// PBKDF2 cost — far more hashing than two cores can do — with the
// concurrency bound at its default and effectively unbounded.
func BenchmarkProxiedUnderLogins(b *testing.B) {
	for _, tc := range []struct {
		name        string
		logins      bool
		concurrency int
	}{
		{"no-logins", false, 0},
		{"20-logins-per-s-bounded-default", true, 0},
		{"20-logins-per-s-bound-1", true, 1},
		{"20-logins-per-s-unbounded", true, 64},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := newGatewayB(b, defaultHashing(tc.concurrency))
			cookie := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(b, "alice")}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if tc.logins {
				wg.Add(1)
				go func() {
					defer wg.Done()
					loginLoad(ctx, g, 20)
				}()
				time.Sleep(500 * time.Millisecond) // let the hash queue fill
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 8}
			c := &http.Client{Transport: tr}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("GET", g.URL+"/editors/", nil)
				req.AddCookie(cookie)
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			tr.CloseIdleConnections()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// loginLoad starts perSecond JSON logins every second until ctx ends; each
// login gives up after 5 s, as a browser would.
func loginLoad(ctx context.Context, g *gw, perSecond int) {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			body := fmt.Sprintf(`{"username":"bob","password":%q}`, testPassword)
			req, _ := http.NewRequestWithContext(lctx, "POST", g.URL+"/_gateway/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}(i)
	}
}
