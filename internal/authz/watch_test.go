package authz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/policies"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
// reloadDeadline bounds how long a test waits for an edit to take effect.
// The gateway reloads within ~0.25 s of an edit (200 ms debounce plus the
// load; TestWatchReloadsOnEdit logs the measured delay); the deadline is
// generous so that a loaded CI machine running -race does not fail on
// timing.
const reloadDeadline = 5 * time.Second

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watched is the default policy copied to a temporary directory, an engine
// on it, and Watch running until the test ends.
type watched struct {
	dir  string
	e    *Engine
	logs *syncBuffer
}

func startWatch(t *testing.T) *watched {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, Options{FS: os.DirFS(dir), Source: dir, Logger: logger})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, dir) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})
	waitFor(t, 5*time.Second, "watch started", func() bool {
		return strings.Contains(logs.String(), "watching policy directory")
	})
	return &watched{dir: dir, e: e, logs: logs}
}

// write replaces a file atomically (temporary file, then rename), as
// editors do.
func (w *watched) write(t testing.TB, name, content string) {
	t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (w *watched) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// healthz is an anonymous GET /healthz: the default policy's catch-all
// (route 8) denies it; withHealthz adds a public route 0 for it.
func (w *watched) healthz(t testing.TB) Decision {
	t.Helper()
	d, err := w.e.Decide(context.Background(), &Input{Request: req("GET", "/healthz")})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return d
}

func withHealthz(dataYAML string) string {
	const routes = "  routes:\n"
	if !strings.Contains(dataYAML, routes) {
		panic("data.yaml has no routes")
	}
	return strings.Replace(dataYAML, routes, routes+"    - path: /healthz\n      public: true\n", 1)
}

// reloadedAfter waits for a reload that finished after t0.
func (w *watched) reloadedAfter(t *testing.T, t0 time.Time) Status {
	t.Helper()
	var st Status
	waitFor(t, reloadDeadline, "a reload", func() bool {
		st = w.e.Status()
		return st.LastReloadAt.After(t0)
	})
	return st
}

func TestWatchReloadsOnEdit(t *testing.T) {
	w := startWatch(t)
	st0 := w.e.Status()
	if st0.Revision != w.e.Revision() || st0.LoadedAt.IsZero() || !st0.LastReloadAt.IsZero() || st0.LastReloadError != "" {
		t.Fatalf("initial status %+v", st0)
	}
	if d := w.healthz(t); d.Allow {
		t.Fatalf("before the edit: %+v", d)
	}
	origData := w.read(t, "data.yaml")
	origRego := w.read(t, "authz.rego")

	// Add a route: the decision changes within a second.
	t0 := time.Now()
	w.write(t, "data.yaml", withHealthz(origData))
	waitFor(t, reloadDeadline, "the new route takes effect", func() bool { return w.healthz(t).Allow })
	t.Logf("edit took effect after %s", time.Since(t0).Round(time.Millisecond))
	st1 := w.e.Status()
	if st1.Revision == st0.Revision || st1.Revision != w.e.Revision() || st1.LastReloadError != "" ||
		!st1.LoadedAt.After(st0.LoadedAt) || st1.LoadedAt != st1.LastReloadAt {
		t.Errorf("status after the edit: %+v (before %+v)", st1, st0)
	}
	if logs := w.logs.String(); !strings.Contains(logs, "policy reloaded") ||
		!strings.Contains(logs, "revision="+st1.Revision) || !strings.Contains(logs, "previous="+st0.Revision) {
		t.Errorf("reload not logged with both revisions:\n%s", logs)
	}

	// Broken edits are rejected, the error names file and line, and the
	// previous policy keeps serving.
	lines := strings.Count(origRego, "\n")
	fixed := map[string]string{"authz.rego": origRego, "data.yaml": withHealthz(origData)}
	broken := []struct{ name, file, content, want string }{
		{"syntax error", "authz.rego", origRego + "\ndecision := {\"allow\" true}\n", fmt.Sprintf("authz.rego:%d", lines+2)},
		{"strict error", "authz.rego", strings.Replace(origRego, "import data.gateway.django\n", "import data.gateway.django\nimport data.unused\n", 1), "authz.rego:13"},
		{"config errors", "data.yaml", withHealthz(origData) + "    - prefix: /x/\n      public: true\n      login: true\n", "config_errors"},
	}
	for _, b := range broken {
		st1 := w.e.Status()
		t0 := time.Now()
		w.write(t, b.file, b.content)
		var st Status
		waitFor(t, reloadDeadline, "the broken edit is rejected", func() bool {
			st = w.e.Status()
			return st.LastReloadAt.After(t0) && st.LastReloadError != ""
		})
		if !strings.Contains(st.LastReloadError, b.want) {
			t.Errorf("%s: LastReloadError %q does not mention %q", b.name, st.LastReloadError, b.want)
		}
		if st.Revision != st1.Revision || st.LoadedAt != st1.LoadedAt || w.e.Revision() != st1.Revision {
			t.Errorf("%s: the policy changed: %+v", b.name, st)
		}
		if d := w.healthz(t); !d.Allow {
			t.Errorf("%s: decision changed: %+v", b.name, d)
		}
		if !strings.Contains(w.logs.String(), "policy reload failed") {
			t.Errorf("%s: failure not logged", b.name)
		}
		// Fix it: the reload succeeds and the error clears.
		w.write(t, b.file, fixed[b.file])
		waitFor(t, reloadDeadline, "the fix takes effect", func() bool {
			st = w.e.Status()
			return st.LastReloadError == ""
		})
		if st.Revision != st1.Revision {
			t.Errorf("%s: after the fix: %+v, want revision %s and no error", b.name, st, st1.Revision)
		}
	}

	// Back to the original.
	w.write(t, "data.yaml", origData)
	waitFor(t, reloadDeadline, "the route removal takes effect", func() bool { return !w.healthz(t).Allow })
	if got := w.e.Revision(); got != st0.Revision {
		t.Errorf("revision %s, want the original %s", got, st0.Revision)
	}
}

func TestWatchNewSubdirectory(t *testing.T) {
	w := startWatch(t)
	rev0 := w.e.Revision()

	// A new directory, then a module in it.
	if err := os.MkdirAll(filepath.Join(w.dir, "extra", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.write(t, "extra/deep/x.rego", "package gateway.extra\n\nanswer := 42\n")
	waitFor(t, reloadDeadline, "the new module is loaded", func() bool { return w.e.Revision() != rev0 })
	rev1 := w.e.Revision()

	// An edit in the new directory is seen: it is watched.
	t0 := time.Now()
	w.write(t, "extra/deep/x.rego", "package gateway.extra\n\nanswer := \n")
	st := w.reloadedAfter(t, t0)
	if !strings.Contains(st.LastReloadError, filepath.Join("extra", "deep", "x.rego")+":") || st.Revision != rev1 {
		t.Errorf("status %+v: want an error in extra/deep/x.rego, revision %s", st, rev1)
	}

	// Removing the directory reloads too.
	t0 = time.Now()
	if err := os.RemoveAll(filepath.Join(w.dir, "extra")); err != nil {
		t.Fatal(err)
	}
	st = w.reloadedAfter(t, t0)
	if st.LastReloadError != "" || st.Revision != rev0 {
		t.Errorf("after removing the directory: %+v, want revision %s", st, rev0)
	}
}

func TestWatchDebounce(t *testing.T) {
	w := startWatch(t)
	data := w.read(t, "data.yaml")

	// Editor temporaries, backups, attribute changes and test files
	// don't reload.
	ignored := []string{".data.yaml.swp", "4913", "data.yaml~", ".#authz.rego", "#authz.rego#", "notes.txt", "x_test.rego"}
	for _, name := range ignored {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(w.dir, "data.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range ignored {
		// The loader would read a regular file named .#authz.rego (a
		// real Emacs lock is a dangling symlink).
		if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * watchDebounce)
	if n := w.e.reloads.Load(); n != 0 {
		t.Errorf("%d reloads for irrelevant files", n)
	}

	// A burst of 20 plain (truncate and write) saves: few reloads, on
	// the last content.
	path := filepath.Join(w.dir, "data.yaml")
	for i := range 20 {
		content := data
		if i%2 == 1 {
			content = withHealthz(data)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, reloadDeadline, "the last save takes effect", func() bool { return w.healthz(t).Allow })
	time.Sleep(2 * watchDebounce) // any straggling reload
	n := w.e.reloads.Load()
	t.Logf("20 saves: %d reload(s)", n)
	if n < 1 || n > 2 {
		t.Errorf("20 saves: %d reloads, want 1 (2 at most)", n)
	}
	if st := w.e.Status(); st.LastReloadError != "" {
		t.Errorf("status %+v", st)
	}
}

// Decisions come from the old or the new policy, never an error, while
// the watcher and direct (SIGHUP-style) Reload calls swap policies, broken
// edits included. Run with -race.
func TestWatchConcurrentDecideAndReload(t *testing.T) {
	w := startWatch(t)
	data := w.read(t, "data.yaml")

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[bool]int{}
	counts := func() (newPolicy, oldPolicy int) {
		mu.Lock()
		defer mu.Unlock()
		return seen[true], seen[false]
	}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := w.e.Decide(context.Background(), &Input{Request: req("GET", "/healthz")})
				switch {
				case err != nil:
					t.Errorf("Decide: %v", err)
					return
				case d.Allow && strings.HasPrefix(d.Reason, "route 0 "), // new
					!d.Allow && strings.HasPrefix(d.Reason, "route 8 "): // old
				default:
					t.Errorf("decision from neither policy: %+v", d)
					return
				}
				mu.Lock()
				seen[d.Allow]++
				mu.Unlock()
			}
		})
	}
	// Every decider decides on the old policy before the first edit.
	waitFor(t, reloadDeadline, "decisions on the old policy", func() bool { _, o := counts(); return o >= 4 })
	// SIGHUP.
	wg.Go(func() {
		for ctx.Err() == nil {
			_ = w.e.Reload(context.Background())
			time.Sleep(10 * time.Millisecond)
		}
	})

	for i := range 12 {
		switch i % 3 {
		case 0:
			w.write(t, "data.yaml", withHealthz(data))
		case 1:
			w.write(t, "data.yaml", "gateway: {routes: [") // broken
		case 2:
			w.write(t, "data.yaml", data)
		}
		time.Sleep(watchDebounce / 2)
	}
	w.write(t, "data.yaml", withHealthz(data))
	waitFor(t, reloadDeadline, "the last edit takes effect", func() bool { return w.healthz(t).Allow })
	waitFor(t, reloadDeadline, "decisions on the new policy", func() bool { n, _ := counts(); return n > 0 })
	cancel()
	wg.Wait()
	t.Logf("decisions: %d allow (new), %d deny (old); %d reloads", seen[true], seen[false], w.e.reloads.Load())
	if seen[true] == 0 || seen[false] == 0 {
		t.Errorf("saw only one policy: %v", seen)
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{FS: os.DirFS(dir)})
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, dir) }()
	// Trigger a reload, then cancel around it.
	if err := os.WriteFile(filepath.Join(dir, "sub", "x.json"), []byte(`{"a": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(watchDebounce)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	if st := e.Status(); st.LastReloadError != "" {
		t.Errorf("a cancelled watch recorded an error: %+v", st)
	}
	waitFor(t, 2*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestWatchErrors(t *testing.T) {
	e := defaultEngine(t)
	missing := filepath.Join(t.TempDir(), "nope")
	err := e.Watch(t.Context(), missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Watch(%s): %v, want an error naming the directory", missing, err)
	}
}

func TestPolicyFile(t *testing.T) {
	for name, want := range map[string]bool{
		"authz.rego": true, "data.yaml": true, "data.yml": true, "routes.json": true,
		"authz_test.rego": false, ".authz.rego.swp": false, "4913": false, "authz.rego~": false,
		".#authz.rego": false, "#authz.rego#": false, "README.md": false, ".data.yaml.tmp": false,
	} {
		if got := policyFile(name); got != want {
			t.Errorf("policyFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// BenchmarkReload measures a reload of the default policy from disk
// (read, parse, strict compile, prepare, config_errors).
func BenchmarkReload(b *testing.B) {
	dir := b.TempDir()
	if err := os.CopyFS(dir, policies.FS); err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, Options{FS: os.DirFS(dir)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Reload(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
