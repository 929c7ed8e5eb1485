// Package authz decides every request with an embedded OPA (Rego) policy.
//
// The policy tree (policies/ on disk, or the default compiled into the
// binary) is loaded the way `opa test policies/` and `opa eval -d policies/`
// load it, compiled in strict mode and prepared once; Decide evaluates the
// prepared query against an input built directly as an AST value. Reload
// swaps in a new policy atomically, or keeps the old one when the new one
// fails to load. Every failure to reach a well-formed decision is an error
// wrapping ErrPolicy: the caller denies (fail closed).
package authz

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/djangate/gateway/internal/authn"
)

const (
	// DefaultQuery is the decision the gateway evaluates.
	DefaultQuery = "data.gateway.authz.decision"
	// ConfigErrorsQuery is evaluated at load time: a non-empty set of
	// strings rejects the policy.
	ConfigErrorsQuery = "data.gateway.authz.config_errors"
	// ConfigWarningsQuery is evaluated at load time too: its messages are
	// logged, and never block the load.
	ConfigWarningsQuery = "data.gateway.authz.config_warnings"
	// DefaultTimeout is the per-evaluation budget when Options.Timeout is 0.
	// A decision normally takes well under a millisecond; the budget
	// only stops pathological policies (and absorbs GC pauses and CPU
	// contention).
	DefaultTimeout = 250 * time.Millisecond

	// loadEvalTimeout bounds the config_errors evaluation at load time.
	loadEvalTimeout = 10 * time.Second
	// valueCacheEntries bounds the inter-query value cache (compiled
	// glob and regex patterns).
	valueCacheEntries = 10000
)

var (
	// ErrPolicy is wrapped by every error that means "the policy did not
	// produce a well-formed decision": eval errors, timeouts, an undefined
	// decision, a result of the wrong shape. The caller must deny.
	ErrPolicy = errors.New("authz: policy error")
	// ErrUndefined reports an undefined decision. It wraps ErrPolicy.
	ErrUndefined = fmt.Errorf("%w: decision is undefined", ErrPolicy)
)

// Decision is the policy's answer.
type Decision struct {
	Allow  bool
	Reason string
	// Memoized reports a decision answered from the decision memo: the
	// policy in force made it before for the same parts of the input.
	Memoized bool
}

// Options configure New.
type Options struct {
	// FS is the policy tree: os.DirFS(dir) or the embedded default
	// (policies.FS). Every .rego file except *_test.rego is loaded, and
	// every .json/.yaml/.yml file is merged into data as OPA's (non-bundle)
	// loader does: at the root for files at the top, under data.<dir> for
	// files in a subdirectory <dir>, whatever the file's name. Exactly one
	// of FS and Bundle is set.
	FS fs.FS
	// Bundle is the path of an OPA bundle to load instead of FS: a bundle
	// directory or a .tar.gz as `opa build` or `gateway policy build`
	// write it (see loadBundle). Reload reads the path again. The
	// revision is the manifest's revision when it has one.
	Bundle string
	// Source names the tree in messages: the directory, "embedded", or
	// the bundle's path (the default when Bundle is set).
	Source string
	// Query is the decision to evaluate; DefaultQuery when empty. It must
	// be a reference to a rule (data.pkg.rule).
	Query string
	// Timeout is the budget of one evaluation; DefaultTimeout when 0.
	Timeout time.Duration
	// Logger receives load/reload events and the output of Rego print()
	// calls (at debug level); slog.Default() when nil.
	Logger *slog.Logger
	// OnLoad, when set, is called with the engine after the policy is
	// loaded and after every successful reload (on the reloading
	// goroutine), e.g. to declare the policy's models in the user store.
	OnLoad func(*Engine)
	// OnReloadError, when set, is called with the error of every failed
	// reload (the previous policy keeps serving), e.g. to count it.
	OnReloadError func(error)

	// MemoSize bounds the decision memo (memo.go): about this many
	// decisions are remembered per loaded policy. 0 turns the memo off.
	MemoSize int

	// noPrecompute: see Engine.noPrecompute (tests only).
	noPrecompute bool
}

// Engine evaluates the policy. It is safe for concurrent use.
type Engine struct {
	fsys       fs.FS
	bundle     string // Options.Bundle
	source     string
	query      string
	queryRef   ast.Ref
	timeout    time.Duration
	logger     *slog.Logger
	valueCache cache.InterQueryValueCache

	reloadMu    sync.Mutex // serializes Reload
	current     atomic.Pointer[policy]
	status      atomic.Pointer[Status] // written under reloadMu
	reloads     atomic.Int64           // Reload calls, for tests
	onLoad      func(*Engine)
	onReloadErr func(error)

	// noPrecompute evaluates the policy as written, without the
	// precompute step; tests compare both.
	noPrecompute bool
	memoSize     int

	memoHits, memoMisses atomic.Uint64
}

// Status reports the policy in force and the outcome of the last reload.
type Status struct {
	// Revision identifies the policy in force (see Engine.Revision).
	Revision string
	// LoadedAt is when the policy in force was loaded.
	LoadedAt time.Time
	// LastReloadError is the error of the last reload, naming file and
	// line; "" when it succeeded or no reload happened yet.
	LastReloadError string
	// LastReloadAt is when the last reload finished; zero before the
	// first one.
	LastReloadAt time.Time
}

// policy is one loaded, compiled and prepared version of the policy tree.
type policy struct {
	query       rego.PreparedEvalQuery
	revision    string
	precomputed []precomputed
	models      []authn.Model // data.gateway.models
	// memo remembers decisions (memo.go); nil when the policy calls a
	// nondeterministic built-in or the memo is off. deps says why not.
	memo *memo
	deps inputDeps
}

// New loads, compiles and prepares the policy in opts.FS. It fails, naming
// file and line, on a parse or compile error, and fails listing the
// messages when data.gateway.authz.config_errors is not empty.
func New(ctx context.Context, opts Options) (*Engine, error) {
	switch {
	case opts.FS == nil && opts.Bundle == "":
		return nil, errors.New("authz: Options.FS is nil and no Options.Bundle is set")
	case opts.FS != nil && opts.Bundle != "":
		return nil, errors.New("authz: set only one of Options.FS and Options.Bundle")
	}
	e := &Engine{
		fsys:    opts.FS,
		bundle:  opts.Bundle,
		source:  cmp.Or(opts.Source, opts.Bundle, "policies"),
		query:   cmp.Or(opts.Query, DefaultQuery),
		timeout: opts.Timeout,
		logger:  opts.Logger,

		noPrecompute: opts.noPrecompute,
		memoSize:     opts.MemoSize,
		onLoad:       opts.OnLoad,
		onReloadErr:  opts.OnReloadError,
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	ref, err := ast.ParseRef(e.query)
	if err != nil || !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 {
		return nil, fmt.Errorf("authz: query %q must be a reference into data, like %s", e.query, DefaultQuery)
	}
	e.queryRef = ref

	n := valueCacheEntries
	e.valueCache = cache.NewInterQueryValueCache(ctx, &cache.Config{
		InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &n},
	})

	start := time.Now()
	p, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	e.current.Store(p)
	e.status.Store(&Status{Revision: p.revision, LoadedAt: time.Now()})
	e.logger.Info("authz: policy loaded", "source", e.source, "revision", p.revision,
		"query", e.query, "precomputed", precomputedNames(p.precomputed), "memo", p.memoState(), "took", time.Since(start).Round(time.Microsecond))
	if e.onLoad != nil {
		e.onLoad(e)
	}
	return e, nil
}

// Reload loads the policy again from the same FS and swaps it in. On
// failure the previous policy stays in force and the error (with file and
// line, or the config_errors messages) is returned. Requests in flight
// finish on the policy they started with.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()

	e.reloads.Add(1)
	start := time.Now()
	old := e.current.Load()
	st := *e.status.Load()
	p, err := e.load(ctx)
	st.LastReloadAt = time.Now()
	if err != nil {
		st.LastReloadError = err.Error()
		// Logged before the status shows it, so whoever sees the status
		// can find the log line.
		e.logger.Warn("authz: policy reload failed; keeping the previous policy",
			"source", e.source, "revision", old.revision, "error", err,
			"took", time.Since(start).Round(time.Microsecond))
		e.status.Store(&st)
		if e.onReloadErr != nil {
			e.onReloadErr(err)
		}
		return err
	}
	e.current.Store(p)
	e.status.Store(&Status{Revision: p.revision, LoadedAt: st.LastReloadAt, LastReloadAt: st.LastReloadAt})
	e.logger.Info("authz: policy reloaded", "source", e.source, "revision", p.revision,
		"previous", old.revision, "precomputed", precomputedNames(p.precomputed), "memo", p.memoState(), "took", time.Since(start).Round(time.Microsecond))
	if e.onLoad != nil {
		e.onLoad(e)
	}
	return nil
}

// Status reports the revision in force, when it was loaded, and the
// outcome of the last reload. It is safe for concurrent use.
func (e *Engine) Status() Status { return *e.status.Load() }

// Revision identifies the policy in force: a short sha256 over the loaded
// policy files and data, or a bundle's manifest revision when it has one.
func (e *Engine) Revision() string { return e.current.Load().revision }

// Decide evaluates the policy for in under the engine's timeout. Any
// failure (undefined decision, eval error including built-in errors,
// timeout, malformed result) returns an error wrapping ErrPolicy, and a
// zero (deny) Decision. An unusable Input gives ErrInvalidInput.
//
// A decision the policy in force already made for the same parts of the
// input it reads is answered from the decision memo (Decision.Memoized).
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	p := e.current.Load()
	if p.memo == nil || in == nil {
		return e.evaluate(ctx, p, in)
	}
	k := p.memo.key(in)
	if d, ok := p.memo.get(k); ok {
		e.memoHits.Add(1)
		d.Memoized = true
		return d, nil
	}
	e.memoMisses.Add(1)
	d, err := e.evaluate(ctx, p, in)
	if err == nil {
		p.memo.put(k, d)
	}
	return d, err
}

// evaluate is Decide's evaluation of p; Explain adds a tracer through
// extra.
func (e *Engine) evaluate(ctx context.Context, p *policy, in *Input, extra ...rego.EvalOption) (Decision, error) {
	input, err := buildInput(in)
	if err != nil {
		return Decision{}, err
	}

	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	opts := append([]rego.EvalOption{
		rego.EvalParsedInput(input),
		rego.EvalInterQueryBuiltinValueCache(e.valueCache),
	}, extra...)
	rs, err := p.query.Eval(ctx, opts...)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(ctxErr, context.DeadlineExceeded) {
				return Decision{}, fmt.Errorf("%w: %s not decided within %s: %w", ErrPolicy, e.query, e.timeout, ctxErr)
			}
			return Decision{}, fmt.Errorf("%w: %s: %w", ErrPolicy, e.query, ctxErr)
		}
		return Decision{}, fmt.Errorf("%w: evaluating %s: %w", ErrPolicy, e.query, err)
	}
	switch {
	case len(rs) == 0:
		return Decision{}, fmt.Errorf("%w (%s, revision %s)", ErrUndefined, e.query, p.revision)
	case len(rs) > 1 || len(rs[0].Expressions) != 1:
		return Decision{}, fmt.Errorf("%w: %s gave %d results", ErrPolicy, e.query, len(rs))
	}
	return e.decision(rs[0].Expressions[0].Value)
}

// decision converts the query's value. It is a *ast.Term (see rawTerm).
func (e *Engine) decision(v any) (Decision, error) {
	t, ok := v.(*ast.Term)
	if !ok {
		return Decision{}, fmt.Errorf("%w: %s: unexpected result %T", ErrPolicy, e.query, v)
	}
	switch x := t.Value.(type) {
	case ast.Boolean:
		return Decision{Allow: bool(x)}, nil
	case ast.Object:
		var allow ast.Boolean
		isBool := false
		if a := x.Get(ast.InternedTerm("allow")); a != nil {
			allow, isBool = a.Value.(ast.Boolean)
		}
		if !isBool {
			return Decision{}, fmt.Errorf(`%w: %s: "allow" must be a boolean, got %v`, ErrPolicy, e.query, t)
		}
		var reason string
		if r := x.Get(ast.InternedTerm("reason")); r != nil {
			s, ok := r.Value.(ast.String)
			if !ok {
				return Decision{}, fmt.Errorf(`%w: %s: "reason" must be a string, got %v`, ErrPolicy, e.query, r)
			}
			reason = string(s)
		}
		return Decision{Allow: bool(allow), Reason: reason}, nil
	default:
		return Decision{}, fmt.Errorf("%w: %s must be an object {allow, reason} or a boolean, got %v", ErrPolicy, e.query, t)
	}
}

// rawTerm makes query results *ast.Term values: no conversion to Go maps
// on the hot path.
func rawTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// load reads, compiles and prepares the policy tree, and checks its
// config_errors.
func (e *Engine) load(ctx context.Context) (*policy, error) {
	loaded, err := e.loadSource() // the FS tree or the bundle (bundle.go)
	if err != nil {
		return nil, fmt.Errorf("authz: loading policy from %s: %w", e.source, err)
	}
	if len(loaded.Modules) == 0 {
		return nil, fmt.Errorf("authz: loading policy from %s: no .rego files", e.source)
	}

	store := inmem.NewFromObjectWithOpts(loaded.Documents, inmem.OptReturnASTValuesOnRead(true))

	compiler, err := compile(ctx, store, loaded.ParsedModules())
	if err != nil {
		return nil, fmt.Errorf("authz: compiling policy from %s: %w", e.source, err)
	}
	if len(compiler.GetRulesForVirtualDocument(e.queryRef)) == 0 {
		return nil, fmt.Errorf("authz: policy from %s: no rule defines %s", e.source, e.query)
	}

	prepare := func(c *ast.Compiler, query string, strictBuiltinErrors bool) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.Query(query),
			rego.Compiler(c),
			rego.Store(store),
			rego.Strict(true),
			rego.StrictBuiltinErrors(strictBuiltinErrors),
			rego.EnablePrintStatements(true),
			rego.PrintHook(printHook{e.logger}),
			rego.GenerateJSON(rawTerm),
		).PrepareForEval(ctx)
	}

	models, err := readModels(ctx, store)
	if err != nil {
		return nil, fmt.Errorf("authz: policy from %s: %w", e.source, err)
	}

	// config_errors is evaluated like `opa test` does, so that a check may
	// rely on a built-in failing (an invalid glob).
	ce, err := prepare(compiler, ConfigErrorsQuery, false)
	if err != nil {
		return nil, fmt.Errorf("authz: preparing %s from %s: %w", ConfigErrorsQuery, e.source, err)
	}
	if err := e.checkConfigErrors(ctx, ce); err != nil {
		return nil, err
	}
	e.logConfigWarnings(ctx, compiler, store)

	// Rules marked precompute are evaluated as far as data allows, now,
	// once (see PrecomputeKey).
	modules, pre := loaded.ParsedModules(), []precomputed(nil)
	if !e.noPrecompute {
		modules, pre, err = precompute(ctx, compiler, store, modules)
		if err != nil {
			return nil, fmt.Errorf("authz: policy from %s: %w", e.source, err)
		}
	}
	if len(pre) > 0 {
		if compiler, err = compile(ctx, store, modules); err != nil {
			return nil, fmt.Errorf("authz: compiling policy from %s with precomputed %s: %w", e.source, precomputedNames(pre), err)
		}
	}

	// The decision treats a built-in error (to_number("x"), a bad glob
	// pattern, ...) as an evaluation error, like `opa eval
	// --strict-builtin-errors`: it denies instead of letting the failing
	// expression be merely undefined, which a negation could turn into an
	// allow.
	pq, err := prepare(compiler, e.query, true)
	if err != nil {
		return nil, fmt.Errorf("authz: preparing %s from %s: %w", e.query, e.source, err)
	}

	deps := readDeps(compiler)
	return &policy{query: pq, revision: loaded.revision, precomputed: pre, models: models,
		deps: deps, memo: newMemo(deps, e.memoSize)}, nil
}

// logConfigWarnings logs every message of config_warnings, if the policy
// has such a rule. A failure to evaluate it is logged too, and ignored.
func (e *Engine) logConfigWarnings(ctx context.Context, compiler *ast.Compiler, store storage.Store) {
	ref := ast.MustParseRef(ConfigWarningsQuery)
	if len(compiler.GetRulesForVirtualDocument(ref)) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, loadEvalTimeout)
	defer cancel()
	rs, err := rego.New(rego.Query(ConfigWarningsQuery), rego.Compiler(compiler), rego.Store(store)).Eval(ctx)
	if err != nil {
		e.logger.Warn("authz: cannot evaluate "+ConfigWarningsQuery, "source", e.source, "error", err)
		return
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return
	}
	msgs, _ := rs[0].Expressions[0].Value.([]any)
	for _, m := range msgs {
		e.logger.Warn("authz: policy warning: "+fmt.Sprint(m), "source", e.source)
	}
}

// checkConfigErrors evaluates config_errors; undefined means none.
func (e *Engine) checkConfigErrors(ctx context.Context, pq rego.PreparedEvalQuery) error {
	ctx, cancel := context.WithTimeout(ctx, loadEvalTimeout)
	defer cancel()
	rs, err := pq.Eval(ctx, rego.EvalInterQueryBuiltinValueCache(e.valueCache))
	if err != nil {
		return fmt.Errorf("authz: policy from %s: evaluating %s: %w", e.source, ConfigErrorsQuery, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	var msgs []string
	bad := false
	collect := func(m *ast.Term) {
		if s, ok := m.Value.(ast.String); ok {
			msgs = append(msgs, string(s))
		} else {
			bad = true
		}
	}
	switch x := t.Value.(type) {
	case ast.Set:
		x.Foreach(collect)
	case *ast.Array:
		x.Foreach(collect)
	default:
		bad = true
	}
	if bad {
		return fmt.Errorf("authz: policy from %s: %s must be a set of strings, got %v", e.source, ConfigErrorsQuery, t)
	}
	if len(msgs) == 0 {
		return nil
	}
	slices.Sort(msgs)
	return fmt.Errorf("authz: policy from %s: %s reports %d problem(s):\n  %s",
		e.source, ConfigErrorsQuery, len(msgs), strings.Join(msgs, "\n  "))
}

// loadFiles loads the policy tree like `opa test`/`opa eval -d` do (OPA's
// non-bundle file loader, Rego v1), without the *_test.rego files.
func loadFiles(fsys fs.FS) (*loader.Result, error) {
	return loader.NewFileLoader().
		WithFS(fsys).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		Filtered([]string{"."}, skipTests)
}

func skipTests(_ string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
}

// compile compiles modules in strict mode (like `opa check --strict`),
// checking that rules don't conflict with base documents in store.
func compile(ctx context.Context, store storage.Store, modules map[string]*ast.Module) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer store.Abort(ctx, txn)

	c := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// revision hashes the loaded modules (by name, sorted) and the data
// document (canonical JSON).
func revision(loaded *loader.Result) string {
	h := sha256.New()
	names := make([]string, 0, len(loaded.Modules))
	for name := range loaded.Modules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := loaded.Modules[name].Raw
		fmt.Fprintf(h, "module %q %d\n", name, len(raw))
		h.Write(raw)
	}
	fmt.Fprintf(h, "data\n")
	h.Write(util.MustMarshalJSON(loaded.Documents))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// printHook sends Rego print() output to the logger at debug level.
type printHook struct{ logger *slog.Logger }

func (h printHook) Print(pctx print.Context, msg string) error {
	ctx := pctx.Context
	if ctx == nil {
		ctx = context.Background()
	}
	h.logger.DebugContext(ctx, "authz: rego print", "location", pctx.Location.String(), "msg", msg)
	return nil
}
