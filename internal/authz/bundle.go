package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	opacompile "github.com/open-policy-agent/opa/v1/compile"
	"github.com/open-policy-agent/opa/v1/loader"
)

// sourceTree is the policy tree as read from its source, before compiling:
// the modules without the *_test.rego files, the data document, and the
// revision that names it.
type sourceTree struct {
	*loader.Result
	revision string
}

// loadSource reads the engine's policy: the file tree of Options.FS, or
// the bundle at Options.Bundle.
func (e *Engine) loadSource() (*sourceTree, error) {
	if e.bundle == "" {
		r, err := loadFiles(e.fsys)
		if err != nil {
			return nil, err
		}
		return &sourceTree{Result: r, revision: revision(r)}, nil
	}
	l, err := loadBundle(e.bundle)
	if err != nil && e.source != e.bundle {
		// The caller names the engine's source; make sure the bundle's
		// path is named too.
		err = fmt.Errorf("bundle %s: %w", e.bundle, err)
	}
	return l, err
}

// loadBundle reads an OPA bundle, a directory or a gzipped tarball (as
// `opa build` or `gateway policy build` write it), with OPA's bundle
// reader: only files named data.json or data.yaml are data, mounted at
// their directory's path; .manifest roots are enforced (every package and
// data path must lie under a root) and its rego_version honoured; the
// *_test.rego files are left out. The revision is the manifest's, or a
// hash of the contents when the manifest has none.
//
// Signed bundles (with .signatures.json) are not supported and are
// refused, as are delta bundles.
func loadBundle(path string) (*sourceTree, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var dl bundle.DirectoryLoader
	if fi.IsDir() {
		dl = bundle.NewDirectoryLoader(path)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		dl = bundle.NewTarballLoaderWithBaseURL(f, path)
	}
	r := bundle.NewCustomReader(dl.WithFilter(skipTests)).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotations(true).
		WithCapabilities(ast.CapabilitiesForThisVersion())
	if fi.IsDir() {
		// Module names (and so error locations) carry the directory, as
		// `opa eval -b DIR` reports them.
		r = r.WithBaseDir(path)
	}
	b, err := r.Read()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if strings.Contains(err.Error(), "verification key not provided") {
			return nil, errors.New("signed bundles (.signatures.json) are not supported; build the bundle without --signing-key")
		}
		return nil, err
	}
	if b.Type() == bundle.DeltaBundleType {
		return nil, errors.New("delta bundles are not supported; use a snapshot bundle")
	}

	res := &loader.Result{Documents: b.Data, Modules: make(map[string]*loader.RegoFile, len(b.Modules))}
	if res.Documents == nil {
		res.Documents = map[string]any{}
	}
	for _, m := range b.Modules {
		res.Modules[m.Path] = &loader.RegoFile{Name: m.Path, Parsed: m.Parsed, Raw: m.Raw}
	}
	rev := b.Manifest.Revision
	if rev == "" {
		rev = revision(res)
	}
	return &sourceTree{Result: res, revision: rev}, nil
}

// BuildBundle writes to w an OPA bundle (.tar.gz) of the policy directory
// dir, as `opa build dir/` does: every .rego file, the *_test.rego files
// included (so that `gateway policy test --bundle` and `opa test -b` run
// them), formatted like `opa fmt`, and the data loaded exactly as
// Options.FS loads it (every .json/.yaml/.yml file merged at the root or
// under its subdirectory's name, whatever its name) as the bundle's one
// /data.json. The bundle therefore decides exactly like the directory.
// revision goes into the manifest; "" leaves it out, and the engine names
// the bundle by a hash of its contents. The manifest's roots are [""].
//
// BuildBundle fails on a file that does not parse; it does not compile
// the policy: load the result with New to check it.
func BuildBundle(ctx context.Context, dir string, w io.Writer, revision string) error {
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	c := opacompile.New().
		WithFS(os.DirFS(dir)).
		WithPaths(".").
		WithRegoVersion(ast.RegoV1).
		WithOutput(w)
	if revision != "" {
		c = c.WithRevision(revision)
	}
	if err := c.Build(ctx); err != nil {
		return fmt.Errorf("building a bundle from %s: %w", dir, err)
	}
	return nil
}
