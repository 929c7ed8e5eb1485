package authz

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
)

// shippedPolicies is the repository's policies/ directory.
const shippedPolicies = "../../policies"

// buildShippedBundle builds policies/ into a .tar.gz with BuildBundle (what
// `gateway policy build` runs) and returns its path.
func buildShippedBundle(t *testing.T, revision string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := BuildBundle(context.Background(), shippedPolicies, &buf, revision); err != nil {
		t.Fatalf("BuildBundle: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tarGz is a gzipped tarball of files (bundle paths, "/" separated), in
// name order, with names rooted at "/" as `opa build` writes them.
func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// replaceFile installs content at path atomically: a temporary file in the
// same directory, then a rename, as deploy tools do.
func replaceFile(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".deploy-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

const miniPolicy = `package gateway.authz

decision := {"allow": input.request.method == "GET", "reason": data.gateway.reason}
`

// miniBundle is a small bundle: roots ["gateway"], the policy in a
// subdirectory, data mounted at data.gateway by gateway/data.json.
func miniBundle(revision, reason string) map[string]string {
	m := map[string]string{
		"gateway/authz/policy.rego": miniPolicy,
		"gateway/data.json":         fmt.Sprintf(`{"reason": %q}`, reason),
	}
	if revision != "" {
		m[".manifest"] = fmt.Sprintf(`{"revision": %q, "roots": ["gateway"]}`, revision)
	}
	return m
}

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func decide(t testing.TB, e *Engine, p *authn.Principal, method, path string) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), &Input{Principal: p, Request: req(method, path)})
	if err != nil {
		t.Fatalf("Decide(%s %s): %v", method, path, err)
	}
	return d
}

// A bundle built from the shipped policies/ decides every request exactly
// like the directory does, route data (data.yaml) and object data
// (objects.yaml) included.
func TestBundleDecidesLikeDir(t *testing.T) {
	path := buildShippedBundle(t, "")
	dir := newEngine(t, Options{FS: os.DirFS(shippedPolicies), Source: shippedPolicies})
	b := newEngine(t, Options{Bundle: path})

	// The non-bundle data layout (every data file merged at the root)
	// made it into the bundle's data.
	st, err := loadBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := st.Documents["gateway"].(map[string]any)
	for _, key := range []string{"routes", "objects"} {
		if gw[key] == nil {
			t.Errorf("bundle data has no gateway.%s; top-level keys of data.gateway: %v", key, keys(gw))
		}
	}
	for name := range st.Modules {
		if strings.HasSuffix(name, "_test.rego") {
			t.Errorf("test module %s loaded", name)
		}
	}

	principals := map[string]*authn.Principal{
		"anonymous": anon, "bob": bob, "alice": alice, "inactive": inactiveAlice,
		"staff": staff, "root": root, "inactive root": rootNotActive,
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	paths := []string{
		"/", "/static/app.css", "/public/form/", "/publicity", "/account/", "/account/settings/",
		"/reports/2024/", "/editors/", "/admin/", "/admin/login/",
		"/api/blog/post/", "/api/blog/post/1/", "/api/blog/post/3/", "/api/blog/post/5/",
		"/somewhere/else", "/healthz",
	}
	n := 0
	for pname, p := range principals {
		for _, m := range methods {
			for _, path := range paths {
				want := decide(t, dir, p, m, path)
				got := decide(t, b, p, m, path)
				if got != want {
					t.Errorf("%s %s as %s: bundle %+v, dir %+v", m, path, pname, got, want)
				}
				n++
			}
		}
	}
	t.Logf("%d decisions compared", n)

	// And a few known answers, as TestDecideDefaultPolicy has them.
	for _, tc := range []struct {
		p            *authn.Principal
		method, path string
		want         Decision
	}{
		{anon, "GET", "/", Decision{Allow: true, Reason: "route 0 (path /): public"}},
		{anon, "GET", "/account/", Decision{Allow: false, Reason: "route 3 (prefix /account/): login required"}},
		{alice, "POST", "/api/blog/post/", Decision{Allow: true, Reason: "route 7 (prefix /api/blog/post/): has blog.add_post"}},
		{alice, "DELETE", "/api/blog/post/1/", Decision{Allow: false, Reason: "route 7 (prefix /api/blog/post/): missing permission blog.delete_post"}},
	} {
		if got := decide(t, b, tc.p, tc.method, tc.path); got != tc.want {
			t.Errorf("bundle: %s %s = %+v, want %+v", tc.method, tc.path, got, tc.want)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A bundle directory: the manifest's revision names the policy, roots are
// enforced, data files are mounted at their directory, and _test.rego
// files are left out (as for a policy directory).
func TestBundleDirManifest(t *testing.T) {
	dir := t.TempDir()
	files := miniBundle("2025-06-01.7", "from bundle data")
	files["gateway/authz/broken_test.rego"] = "package gateway.authz_test\n\ntest_x if {\n" // never loaded
	writeTree(t, dir, files)

	e := newEngine(t, Options{Bundle: dir})
	if got := e.Status().Revision; got != "2025-06-01.7" {
		t.Errorf("Status().Revision = %q, want the manifest's", got)
	}
	if got := e.Revision(); got != "2025-06-01.7" {
		t.Errorf("Revision() = %q", got)
	}
	if d := decide(t, e, anon, "GET", "/x"); d != (Decision{Allow: true, Reason: "from bundle data"}) {
		t.Errorf("decision = %+v", d)
	}
	if d := decide(t, e, anon, "POST", "/x"); d.Allow {
		t.Errorf("POST allowed: %+v", d)
	}

	// Roots that do not cover the policy's package: refused.
	writeTree(t, dir, map[string]string{".manifest": `{"revision": "r2", "roots": ["other"]}`})
	_, err := New(context.Background(), Options{Bundle: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "manifest roots [other] do not permit") {
		t.Errorf("New with roots [other]: %v", err)
	}
}

// Without a manifest revision the revision is the content hash: stable
// across loads, different when the content differs.
func TestBundleRevisionWithoutManifestRevision(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.tar.gz")
	if err := os.WriteFile(path, tarGz(t, miniBundle("", "one")), 0o644); err != nil {
		t.Fatal(err)
	}
	e1 := newEngine(t, Options{Bundle: path})
	e2 := newEngine(t, Options{Bundle: path})
	if r := e1.Revision(); !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(r) || r != e2.Revision() {
		t.Errorf("revisions %q, %q: want the same 12-hex-digit hash", r, e2.Revision())
	}
	replaceFile(t, path, tarGz(t, miniBundle("", "two")))
	if err := e1.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e1.Revision() == e2.Revision() {
		t.Error("revision unchanged after the data changed")
	}
}

// A corrupt archive or a Rego syntax error in the bundle: New fails naming
// the bundle and the file; Reload keeps the previous policy serving and
// records the error in Status.
func TestBundleErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.tar.gz")
	broken := miniBundle("r-broken", "x")
	broken["gateway/authz/policy.rego"] = "package gateway.authz\n\ndecision := {\n"
	cases := []struct {
		name    string
		content []byte
		want    []string
	}{
		{"corrupt archive", []byte("this is not a gzip file"), []string{path, "gzip"}},
		{"truncated archive", tarGz(t, miniBundle("r", "x"))[:40], []string{path}},
		{"syntax error", tarGz(t, broken), []string{path, "/gateway/authz/policy.rego:", "rego_parse_error"}},
		{"roots violated", tarGz(t, map[string]string{
			".manifest":         `{"roots": ["elsewhere"]}`,
			"gateway/p.rego":    miniPolicy,
			"gateway/data.json": `{"reason": "x"}`,
		}), []string{path, "manifest roots [elsewhere] do not permit"}},
		{"signed bundle", tarGz(t, map[string]string{
			".signatures.json":          `{"signatures": ["eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"]}`,
			"gateway/authz/policy.rego": miniPolicy,
			"gateway/data.json":         `{"reason": "x"}`,
		}), []string{path, "signed bundles (.signatures.json) are not supported"}},
		{"delta bundle", tarGz(t, map[string]string{
			".manifest":  `{"revision": "d1", "roots": ["gateway"], "bundle_type": "delta"}`,
			"patch.json": `{"data": [{"op": "upsert", "path": "/gateway/reason", "value": "y"}]}`,
		}), []string{path, "delta bundles are not supported"}},
		{"missing file", nil, []string{path, "no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content == nil {
				_ = os.Remove(path)
			} else {
				replaceFile(t, path, tc.content)
			}
			_, err := New(context.Background(), Options{Bundle: path, Logger: quiet})
			if err == nil {
				t.Fatal("New succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}

	// Reload: the previous policy keeps serving.
	replaceFile(t, path, tarGz(t, miniBundle("r1", "good")))
	logs := &syncBuffer{}
	e := newEngine(t, Options{Bundle: path, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	for _, tc := range cases {
		if tc.content == nil {
			_ = os.Remove(path)
		} else {
			replaceFile(t, path, tc.content)
		}
		err := e.Reload(context.Background())
		if err == nil {
			t.Fatalf("%s: Reload succeeded", tc.name)
		}
		st := e.Status()
		if st.Revision != "r1" || st.LastReloadError != err.Error() || st.LastReloadAt.IsZero() {
			t.Errorf("%s: Status = %+v", tc.name, st)
		}
		if d := decide(t, e, anon, "GET", "/"); d != (Decision{Allow: true, Reason: "good"}) {
			t.Errorf("%s: previous policy not serving: %+v", tc.name, d)
		}
	}
	if !strings.Contains(logs.String(), "keeping the previous policy") {
		t.Errorf("failed reload not logged:\n%s", logs)
	}
	replaceFile(t, path, tarGz(t, miniBundle("r2", "better")))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); st.Revision != "r2" || st.LastReloadError != "" {
		t.Errorf("after a good reload: Status = %+v", st)
	}
}

func TestBundleOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"neither": {Options{}, "Options.FS is nil and no Options.Bundle is set"},
		"both":    {Options{FS: os.DirFS(shippedPolicies), Bundle: "x.tar.gz"}, "set only one of Options.FS and Options.Bundle"},
	} {
		if _, err := New(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// watchBundle runs Watch on path until the test ends.
func watchBundle(t *testing.T, e *Engine, logs *syncBuffer, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, path) }()
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
		return strings.Contains(logs.String(), "authz: watching policy")
	})
}

// Replacing the .tar.gz (temporary file + rename, as deploy tools do, or
// written in place) reloads it; other files in its directory do not; a
// broken replacement is rejected and the previous policy keeps serving.
func TestWatchBundleFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.tar.gz")
	if err := os.WriteFile(path, tarGz(t, miniBundle("r1", "one")), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	e := newEngine(t, Options{Bundle: path, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	watchBundle(t, e, logs, path)

	start := time.Now()
	replaceFile(t, path, tarGz(t, miniBundle("r2", "two")))
	waitFor(t, reloadDeadline, "reload to r2 after rename", func() bool { return e.Revision() == "r2" })
	t.Logf("reloaded %s after the rename", time.Since(start).Round(time.Millisecond))
	if d := decide(t, e, anon, "GET", "/"); d.Reason != "two" {
		t.Errorf("decision after reload: %+v", d)
	}

	// Other files in the directory are not the bundle.
	n := e.reloads.Load()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "other.tar.gz"), tarGz(t, miniBundle("r9", "nine")))
	time.Sleep(3 * watchDebounce)
	if got := e.reloads.Load(); got != n {
		t.Errorf("%d reload(s) after unrelated files changed", got-n)
	}

	// A broken bundle: rejected, logged, previous policy serving.
	replaceFile(t, path, []byte("garbage"))
	waitFor(t, reloadDeadline, "failed reload recorded", func() bool { return e.Status().LastReloadError != "" })
	if st := e.Status(); st.Revision != "r2" || !strings.Contains(st.LastReloadError, path) {
		t.Errorf("Status = %+v", st)
	}
	if d := decide(t, e, anon, "GET", "/"); d.Reason != "two" {
		t.Errorf("previous policy not serving: %+v", d)
	}

	// Written in place (not atomically) also reloads.
	if err := os.WriteFile(path, tarGz(t, miniBundle("r3", "three")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadDeadline, "reload to r3 after an in-place write", func() bool { return e.Revision() == "r3" })
	if st := e.Status(); st.LastReloadError != "" {
		t.Errorf("Status after a good reload = %+v", st)
	}
}

// A bundle directory is watched like a policy directory, .manifest
// included.
func TestWatchBundleDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, miniBundle("r1", "one"))
	logs := &syncBuffer{}
	e := newEngine(t, Options{Bundle: dir, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	watchBundle(t, e, logs, dir)

	replaceFile(t, filepath.Join(dir, ".manifest"), []byte(`{"revision": "r2", "roots": ["gateway"]}`))
	waitFor(t, reloadDeadline, "reload after a .manifest change", func() bool { return e.Revision() == "r2" })
	replaceFile(t, filepath.Join(dir, "gateway", "data.json"), []byte(`{"reason": "changed"}`))
	waitFor(t, reloadDeadline, "reload after a data change", func() bool {
		d, err := e.Decide(context.Background(), &Input{Request: req("GET", "/")})
		return err == nil && d.Reason == "changed"
	})
}
