package authz

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/util"
)

// PrecomputeKey is the METADATA custom key that marks a rule the engine
// evaluates as far as data allows once per load, instead of on every
// request:
//
//   - a rule that depends on data only is evaluated, and its value is
//     served as a constant;
//   - a multi-value rule (`name contains x if ...`) that depends on input is
//     partially evaluated with input unknown (OPA's partial evaluation, as
//     `opa build -O=1` does): every body is unrolled over the data it
//     iterates, leaving one rule per element with constant conditions on
//     input, which OPA's rule index then looks up instead of trying them
//     all.
//
// `opa test` and `opa eval`, which know nothing of it, evaluate the rule as
// written; partial evaluation preserves its meaning.
//
//	# METADATA
//	# custom:
//	#   precompute: true
//	route_lookup[anchor] contains i if { ... data.gateway.routes ... }
const PrecomputeKey = "precompute"

// precomputed is one document replaced by its value, or by the residual
// rules of its partial evaluation.
type precomputed struct {
	path    ast.Ref // data.pkg.rule
	value   *ast.Term
	rules   []*ast.Rule   // residual rules (value == nil)
	support []*ast.Module // modules the residual rules refer to
}

// precompute evaluates every document with a rule annotated with
// PrecomputeKey against compiler and store, and returns copies of the
// modules in which its rules are replaced: by `rule := data["$precomputed"][...]`
// (the value, written to store) for a document over data only, by its
// residual rules for a multi-value document that reads input. It fails,
// naming the rule, when an annotated rule is a function, is nested deeper
// than pkg.rule, is a single-value document that depends on input
// (directly or through the rules and functions it uses), or is undefined.
// Modules without such rules are returned as they are.
func precompute(ctx context.Context, compiler *ast.Compiler, store storage.Store, modules map[string]*ast.Module) (map[string]*ast.Module, []precomputed, error) {
	var targets []*ast.Rule
	for _, ar := range compiler.GetAnnotationSet().Flatten() {
		if v, ok := ar.Annotations.Custom[PrecomputeKey]; !ok || v != true {
			continue
		}
		rule := ar.GetRule()
		where := ar.Location.String()
		if rule == nil {
			return nil, nil, fmt.Errorf("%s: METADATA custom.%s must annotate a rule", where, PrecomputeKey)
		}
		if len(rule.Head.Args) > 0 {
			return nil, nil, fmt.Errorf("%s: %s is a function; only rules can be precomputed", where, rule.Head.Ref())
		}
		if len(rule.Head.Ref().GroundPrefix()) != 1 {
			return nil, nil, fmt.Errorf("%s: %s: only a rule named by one identifier (pkg.rule) can be precomputed", where, rule.Head.Ref())
		}
		if ref, ok := documentDependsOnInput(compiler, rule); ok && rule.Head.RuleKind() != ast.MultiValue {
			return nil, nil, fmt.Errorf("%s: %s is marked %s and depends on input (%s at %s): only a multi-value rule (contains) can be partially evaluated", where, rule.Head.Ref(), PrecomputeKey, ref, ref[0].Location)
		}
		targets = append(targets, rule)
	}
	if len(targets) == 0 {
		return modules, nil, nil
	}

	var done []precomputed
	for _, rule := range targets {
		path := docPath(rule.Module.Package.Path, rule.Head.Ref())
		if slices.ContainsFunc(done, func(p precomputed) bool { return p.path.Equal(path) }) {
			continue // several rules (or annotations) of one document
		}
		if _, ok := documentDependsOnInput(compiler, rule); ok {
			p, err := partial(ctx, compiler, store, path)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", rule.Location, err)
			}
			done = append(done, p)
			continue
		}
		rs, err := rego.New(
			rego.Query(path.String()),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.StrictBuiltinErrors(true),
			rego.GenerateJSON(rawTerm),
		).Eval(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: precomputing %s: %w", rule.Location, path, err)
		}
		if len(rs) != 1 || len(rs[0].Expressions) != 1 {
			return nil, nil, fmt.Errorf("%s: precomputing %s: the rule is undefined", rule.Location, path)
		}
		t, _ := rs[0].Expressions[0].Value.(*ast.Term)
		if t == nil {
			return nil, nil, fmt.Errorf("%s: precomputing %s: unexpected result", rule.Location, path)
		}
		done = append(done, precomputed{path: path, value: t})
	}

	if err := storePrecomputed(ctx, store, done); err != nil {
		return nil, nil, err
	}

	// Remove every rule of each precomputed document from the modules of
	// its package, and define the document once, as a constant, in the
	// first module (by name) that held one of its rules.
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make(map[string]*ast.Module, len(modules))
	defined := map[string]bool{}
	for _, name := range names {
		m := modules[name]
		out[name] = m
		isDoc := func(ref ast.Ref) (precomputed, bool) {
			for _, p := range done {
				if p.path.Equal(ref) {
					return p, true
				}
			}
			return precomputed{}, false
		}
		var here []precomputed
		for _, r := range m.Rules {
			if p, ok := isDoc(docPath(m.Package.Path, r.Head.Ref())); ok && !slices.ContainsFunc(here, func(q precomputed) bool { return q.path.Equal(p.path) }) {
				here = append(here, p)
			}
		}
		if len(here) == 0 {
			continue
		}
		c := m.Copy()
		c.Rules = slices.DeleteFunc(c.Rules, func(r *ast.Rule) bool {
			_, ok := isDoc(docPath(c.Package.Path, r.Head.Ref()))
			return ok
		})
		// The replaced rules' annotations would point at nothing.
		c.Annotations = slices.DeleteFunc(c.Annotations, func(a *ast.Annotations) bool {
			target := a.GetTargetPath()
			if len(target) <= len(c.Package.Path) {
				return false // package or document scope of the package
			}
			_, ok := isDoc(target[:len(c.Package.Path)+1])
			return ok
		})
		for _, p := range here {
			if defined[p.path.String()] {
				continue
			}
			defined[p.path.String()] = true
			if p.value == nil {
				for _, r := range p.rules {
					r.Module = c
					c.Rules = append(c.Rules, r)
				}
				continue
			}
			v := ast.Var(p.path[len(p.path)-1].Value.(ast.String))
			// The value lives in the store, not in the module: a constant
			// in the module would be type-checked key by key, and refs to
			// keys some data lacks would then fail to compile.
			head := ast.RefHead(ast.Ref{ast.VarTerm(string(v))}, ast.NewTerm(precomputedRef(p.path)))
			head.Name = v
			head.Assign = true
			c.Rules = append(c.Rules, &ast.Rule{
				Head:   head,
				Body:   ast.NewBody(ast.NewExpr(ast.BooleanTerm(true))),
				Module: c,
			})
		}
		out[name] = c
	}
	for _, p := range done {
		for i, m := range p.support {
			out[fmt.Sprintf("%s$support%d.rego", p.path, i)] = m
		}
	}
	return out, done, nil
}

// partial partially evaluates the multi-value rule at path with input
// unknown and returns one rule per residual query: `name contains x if
// { query }`, where the query binds x.
func partial(ctx context.Context, compiler *ast.Compiler, store storage.Store, path ast.Ref) (precomputed, error) {
	x := ast.VarTerm("x")
	query := ast.NewBody(ast.NewExpr(ast.NewTerm(path.Append(x))))
	pq, err := rego.New(
		rego.ParsedQuery(query),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.Unknowns([]string{"input"}),
		rego.StrictBuiltinErrors(true),
	).Partial(ctx)
	if err != nil {
		return precomputed{}, fmt.Errorf("partially evaluating %s: %w", path, err)
	}
	name := string(path[len(path)-1].Value.(ast.String))
	p := precomputed{path: path, support: pq.Support}
	for i, body := range pq.Queries {
		// Local names of the residual query, made unique per rule so the
		// compiler's own generated names cannot collide with them.
		renamed, err := ast.TransformVars(body.Copy(), func(v ast.Var) (ast.Value, error) {
			if v.IsWildcard() || v.IsGenerated() || strings.HasPrefix(string(v), "__local") {
				return ast.Var(fmt.Sprintf("__pe%d_%s", i, strings.Trim(string(v), "_"))), nil
			}
			return v, nil
		})
		if err != nil {
			return precomputed{}, err
		}
		b := renamed.(ast.Body)
		head := ast.NewHead(ast.Var(name), nil, nil)
		head.Reference = ast.Ref{ast.VarTerm(name)}
		head.Key = x
		rule := &ast.Rule{Head: head, Body: b}
		p.rules = append(p.rules, rule)
	}
	if len(p.rules) == 0 {
		// Never defined for any input: keep the document empty but defined.
		p.value = ast.SetTerm()
	}
	return p, nil
}

// precomputedRoot is where precomputed values are kept in the store: a
// key no package can be named after.
const precomputedRoot = "$precomputed"

// precomputedRef is the data ref of the stored value of the rule at path.
func precomputedRef(path ast.Ref) ast.Ref {
	return ast.Ref{ast.DefaultRootDocument, ast.StringTerm(precomputedRoot), ast.StringTerm(path.String())}
}

// storePrecomputed writes the values under precomputedRoot.
func storePrecomputed(ctx context.Context, store storage.Store, ps []precomputed) error {
	// The AST value as it is: a JSON round trip would turn sets into
	// arrays and number keys into strings.
	doc := ast.NewObject()
	for _, p := range ps {
		if p.value != nil {
			doc.Insert(ast.StringTerm(p.path.String()), p.value)
		}
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return err
	}
	if err := store.Write(ctx, txn, storage.AddOp, storage.Path{precomputedRoot}, doc); err != nil {
		store.Abort(ctx, txn)
		return fmt.Errorf("storing precomputed values: %w", err)
	}
	return store.Commit(ctx, txn)
}

// docPath is the path of the document a rule with head ref head in package
// pkg contributes to: pkg plus the head's first name, as a string term
// (how data paths are spelled).
func docPath(pkg, head ast.Ref) ast.Ref {
	name := head[0].Value
	if v, ok := name.(ast.Var); ok {
		name = ast.String(v)
	}
	return pkg.Append(ast.NewTerm(name))
}

// documentDependsOnInput is dependsOnInput over every rule of the document
// rule contributes to: one body reading input makes the whole document
// depend on it.
func documentDependsOnInput(compiler *ast.Compiler, rule *ast.Rule) (ast.Ref, bool) {
	for _, r := range compiler.GetRulesForVirtualDocument(docPath(rule.Module.Package.Path, rule.Head.Ref())) {
		if ref, ok := dependsOnInput(compiler, r); ok {
			return ref, true
		}
	}
	return dependsOnInput(compiler, rule)
}

// dependsOnInput reports the first reference to input in rule or in any
// rule or function it depends on, transitively.
func dependsOnInput(compiler *ast.Compiler, rule *ast.Rule) (ast.Ref, bool) {
	seen := map[util.T]bool{}
	queue := []util.T{rule}
	var found ast.Ref
	for len(queue) > 0 && found == nil {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		r, ok := n.(*ast.Rule)
		if !ok {
			continue
		}
		// Every rule of an else chain and the rule itself.
		for x := r; x != nil && found == nil; x = x.Else {
			ast.WalkRefs(x, func(ref ast.Ref) bool {
				if found == nil && ref.HasPrefix(ast.InputRootRef) {
					found = ref
				}
				return found != nil
			})
		}
		for dep := range compiler.Graph.Dependencies(n) {
			queue = append(queue, dep)
		}
	}
	return found, found != nil
}

// precomputedNames lists the paths of precomputed rules, for logs.
func precomputedNames(ps []precomputed) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.path.String()
	}
	return strings.Join(names, ", ")
}
