package authz

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/djangate/gateway/internal/authn"
)

// benchPrincipal is an active user with 5 groups and 50 permissions, among
// them blog.change_post.
func benchPrincipal() *authn.Principal {
	p := &authn.Principal{
		User: &authn.User{
			ID: 42, Username: "alice", Email: "alice@example.com",
			FirstName: "Alice", LastName: "Liddell", IsActive: true,
		},
		Groups:  []string{"authors", "editors", "moderators", "reviewers", "writers"},
		Backend: "session",
	}
	for _, app := range []string{"blog", "shop", "wiki", "news", "forum"} {
		for _, model := range []string{"post", "item"} {
			for _, action := range []string{"view", "add", "change", "delete"} {
				p.Permissions = append(p.Permissions, fmt.Sprintf("%s.%s_%s", app, action, model))
			}
		}
		p.Permissions = append(p.Permissions, app+".export_data", app+".publish_item")
	}
	return p // 50 permissions
}

func benchRequest() Request {
	return Request{
		Method: "PUT",
		Path:   "/api/blog/post/123/",
		Host:   "example.com",
		Scheme: "https",
		Query:  "page=2&format=json",
		Headers: http.Header{
			"Accept":          {"application/json"},
			"User-Agent":      {"bench/1.0"},
			"X-Request-Id":    {"0f8fad5b-d9cb-469f-a165-70867728950e"},
			"Content-Type":    {"application/json"},
			"Cookie":          {"sessionid=secret"},
			"Accept-Language": {"en"},
		},
		ClientIP: "203.0.113.7",
		Upstream: "app",
	}
}

func benchDecide(b *testing.B, e *Engine, in *Input) {
	b.Helper()
	ctx := context.Background()
	d, err := e.Decide(ctx, in)
	if err != nil || !d.Allow {
		b.Fatalf("decision %+v, %v: want allow", d, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// processCPU is the CPU time (user + system) the process has used, GC
// workers included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric cpu-ns/op: CPU time per operation since
// start. Unlike ns/op (wall time) it does not grow when other processes
// compete for the CPU, so ratios between benchmarks stay meaningful on a
// busy machine; it does include the GC's background work.
func reportCPU(b *testing.B, start time.Duration) {
	if start == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecide: the default policy, a model route (route 7 of 9),
// allowed through blog.change_post.
func BenchmarkDecide(b *testing.B) {
	in := &Input{Principal: benchPrincipal(), Request: benchRequest()}
	benchDecide(b, defaultEngine(b), in)
}

// BenchmarkDecideTrivial: `allow if input.user.is_active`, same input. The
// difference to BenchmarkDecide is the cost of the policy itself.
func BenchmarkDecideTrivial(b *testing.B) {
	e := newEngine(b, Options{
		FS:    fstest.MapFS{"trivial.rego": file("package gateway.authz\n\nallow if input.user.is_active\n")},
		Query: "data.gateway.authz.allow",
	})
	in := &Input{Principal: benchPrincipal(), Request: benchRequest()}
	benchDecide(b, e, in)
}

// BenchmarkBuildInput: building the AST input alone.
func BenchmarkBuildInput(b *testing.B) {
	in := &Input{Principal: benchPrincipal(), Request: benchRequest()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildInput(in); err != nil {
			b.Fatal(err)
		}
	}
}
