package authz

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/djangate/gateway/policies"
)

// policyDir is the policy tree on disk, as `opa test policies/` sees it.
const policyDir = "../../policies"

// TestRegoPolicies runs every *_test.rego under policies/ with OPA's tester,
// loading the tree like `opa test policies/` does, and compiling in strict
// mode like `opa check --strict policies/`. Each Rego test is a subtest.
func TestRegoPolicies(t *testing.T) {
	ctx := context.Background()
	modules, store, err := tester.LoadWithParserOptions([]string{policyDir}, nil,
		ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		t.Fatalf("loading %s: %v", policyDir, err)
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		SetTimeout(time.Minute) // generous: -race slows evaluation a lot
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("compiling %s: %v", policyDir, err)
	}

	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	if len(results) == 0 {
		t.Fatalf("no Rego tests found under %s", policyDir)
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		return strings.Compare(a.Package+"."+a.Name, b.Package+"."+b.Name)
	})
	for _, r := range results {
		t.Run(strings.TrimPrefix(r.Package, "data.")+"."+r.Name, func(t *testing.T) {
			switch {
			case r.Skip:
				t.Skip("skipped (todo_ test)")
			case r.Error != nil:
				t.Fatalf("%s: ERROR: %v\n%s", r.Location, r.Error, r.Output)
			case r.Fail:
				var failed []string
				for name, sr := range r.SubResults.Iter {
					if sr.Fail && len(sr.SubResults) == 0 {
						failed = append(failed, strings.Join(name, " / "))
					}
				}
				t.Fatalf("%s: FAIL %v\n%s", r.Location, failed, r.Output)
			}
		})
	}
}

// The engine's loader sees the data document `opa test`/`opa eval -d` see.
func TestLoaderMatchesOPATest(t *testing.T) {
	_, store, err := tester.LoadWithParserOptions([]string{policyDir}, nil,
		ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	cliData, err := storage.ReadOne(t.Context(), store, storage.RootPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, fsys := range map[string]fs.FS{"disk": os.DirFS(policyDir), "embedded": policies.FS} {
		loaded, err := loadFiles(fsys)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(loaded.Documents, cliData) {
			t.Errorf("%s: data differs from opa test's:\n got %v\nwant %v", name, loaded.Documents, cliData)
		}
		var mods []string
		for _, m := range loaded.Modules {
			mods = append(mods, filepath.Base(m.Name))
		}
		slices.Sort(mods)
		if want := []string{"authz.rego", "django.rego"}; !slices.Equal(mods, want) {
			t.Errorf("%s: modules %v, want %v (tests excluded)", name, mods, want)
		}
	}
}

// Every policy or data file on disk is in the embedded FS too.
func TestEmbeddedFSComplete(t *testing.T) {
	err := filepath.WalkDir(policyDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".rego", ".json", ".yaml", ".yml":
		default:
			return nil
		}
		rel, _ := filepath.Rel(policyDir, path)
		want, _ := os.ReadFile(path)
		got, err := fs.ReadFile(policies.FS, filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("%s is not embedded: add it to the //go:embed line in policies/embed.go", rel)
		} else if string(got) != string(want) {
			t.Errorf("%s: embedded copy differs (rebuild)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
