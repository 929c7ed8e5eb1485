package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/proxy"
	"github.com/djangate/gateway/internal/server"
)

const policyUsage = `usage:
  gateway policy eval (--user U | --anonymous) --path PATH [--method M] [--host H] [--query Q]
                      [--header 'Name: value' ...] [--scheme http|https] [--client-ip IP]
                      [--explain notes|fails|full|debug] [--json]
                      [--dir DIR | --bundle PATH] [--config FILE]
      Ask the configured policy (or the one in DIR or the bundle PATH) about
      one request, as the gateway would.
  gateway policy test [DIR | --bundle PATH] [--coverage] [--verbose] [--run REGEX] [--config FILE]
      Run the policy's *_test.rego files (like opa test, or opa test --bundle);
      the policy defaults to policy.dir or policy.bundle from the
      configuration, or ./policies.
  gateway policy build [--dir DIR] -o FILE.tar.gz [--revision R] [--config FILE]
      Write an OPA bundle of the policy directory (default policy.dir from the
      configuration, or ./policies), for policy.bundle: the same policy,
      tests and data, deciding exactly like DIR. The bundle is checked as
      the gateway loads it, then installed atomically (temporary file and
      rename), so a gateway watching FILE never sees half of it.
`

func cmdPolicy(ctx context.Context, env *runEnv, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, policyUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "eval":
		return policyEval(ctx, env, args[1:])
	case "test":
		return policyTest(ctx, env, args[1:])
	case "build":
		return policyBuild(ctx, env, args[1:])
	}
	return fmt.Errorf("%w: unknown subcommand %q (try `gateway policy help`)", errUsage, args[0])
}

// headerList collects repeated --header 'Name: value' flags.
type headerList struct{ h http.Header }

func (l *headerList) String() string { return "" }

func (l *headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("header %q: want 'Name: value'", s)
	}
	l.h.Add(name, strings.TrimSpace(value))
	return nil
}

// policyHelp prints the subcommand's flags for --help.
func policyHelp(env *runEnv, fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, policyUsage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		return nil
	}
	return err
}

// matchedRule is one rule (or function) whose body succeeded.
type matchedRule struct {
	Location string `json:"location"`
	Rule     string `json:"rule"`
}

type evalReport struct {
	Decision struct {
		Allow  bool   `json:"allow"`
		Reason string `json:"reason"`
	} `json:"decision"`
	Answer       string        `json:"answer"`
	Upstream     string        `json:"upstream"`
	Policy       string        `json:"policy"`
	Revision     string        `json:"revision"`
	Input        any           `json:"input"`
	MatchedRules []matchedRule `json:"matched_rules"`
	Explain      []string      `json:"explain,omitempty"`
}

func policyEval(ctx context.Context, env *runEnv, args []string) error {
	flags := flag.NewFlagSet("policy eval", flag.ContinueOnError)
	cfgPath := env.configFlag(flags)
	username := flags.String("user", "", "evaluate as this user (loaded from Redis)")
	anonymous := flags.Bool("anonymous", false, "evaluate as the anonymous user (no Redis needed)")
	method := flags.String("method", http.MethodGet, "HTTP method")
	path := flags.String("path", "", "request path (required); a query after ? is used when --query is not given")
	host := flags.String("host", "", "Host header (default: the first upstream's match.host, or localhost)")
	query := flags.String("query", "", "raw query string, without ?")
	scheme := flags.String("scheme", "http", "request scheme")
	clientIP := flags.String("client-ip", "127.0.0.1", "client address")
	explain := flags.String("explain", "", "also print OPA's trace: notes, fails, full or debug (as opa eval --explain)")
	asJSON := flags.Bool("json", false, "print the decision, the answer and the input document as JSON")
	headers := &headerList{h: http.Header{}}
	flags.Var(headers, "header", "request header 'Name: value' (repeatable)")
	dirFlag := flags.String("dir", "", "use the policy directory DIR instead of the configured policy")
	bundleFlag := flags.String("bundle", "", "use the OPA bundle PATH (directory or .tar.gz) instead of the configured policy")
	if _, err := parse(flags, args, 0, 0); err != nil {
		return policyHelp(env, flags, err)
	}
	switch {
	case *path == "":
		return fmt.Errorf("%w: --path is required", errUsage)
	case (*username == "") == !*anonymous:
		return fmt.Errorf("%w: give exactly one of --user U and --anonymous", errUsage)
	case *dirFlag != "" && *bundleFlag != "":
		return fmt.Errorf("%w: give at most one of --dir and --bundle", errUsage)
	}
	var filter func([]*topdown.Event) []*topdown.Event
	switch *explain {
	case "":
	case "notes":
		filter = lineage.Notes
	case "fails":
		filter = lineage.Fails
	case "full":
		filter = lineage.Full
	case "debug":
		filter = lineage.Debug
	default:
		return fmt.Errorf("%w: --explain must be notes, fails, full or debug", errUsage)
	}

	cfg, err := env.loadConfig(*cfgPath, false)
	if err != nil {
		return err
	}
	target := *path
	if p, q, ok := strings.Cut(target, "?"); ok {
		target = p
		if *query == "" {
			*query = q
		}
	}
	canon, err := canonical.Path(target)
	if err != nil {
		return fmt.Errorf("the gateway would answer 400 Bad Request before asking the policy: %w", err)
	}
	if *host == "" {
		*host = "localhost"
		if len(cfg.Upstreams) > 0 && cfg.Upstreams[0].Match.Host != "" {
			*host = cfg.Upstreams[0].Match.Host
		}
	}
	if canon == cfg.Prefix || strings.HasPrefix(canon, cfg.Prefix+"/") {
		fmt.Fprintf(env.Stdout, "%s is the gateway's own endpoint (prefix %s): the gateway serves it itself; the policy is not asked.\n", canon, cfg.Prefix)
		return nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	px, err := proxy.New(cfg.Upstreams, cfg.IdentityHeaders, []string{cfg.Session.CookieName, server.CSRFCookieName}, proxy.Options{Logger: quiet})
	if err != nil {
		return err
	}
	up, ok := px.Select(*host, canon)
	if !ok {
		fmt.Fprintf(env.Stdout, "No upstream serves host %s, path %s: the gateway would answer 404 Not Found; the policy is not asked.\n", *host, canon)
		return nil
	}
	px.SanitizeRequest(headers.h)

	principal := authn.Anonymous
	var note string
	if !*anonymous {
		if principal, note, err = loadPrincipal(ctx, env, *cfgPath, *username); err != nil {
			return err
		}
	}

	pol := cfg.Policy
	switch {
	case *bundleFlag != "":
		pol.Dir, pol.Bundle = "", *bundleFlag
	case *dirFlag != "":
		pol.Dir, pol.Bundle = *dirFlag, ""
	}
	opts := policyOptions(pol, quiet)
	source := opts.Source
	engine, err := authz.New(ctx, opts)
	if err != nil {
		return fmt.Errorf("policy (%s): %w", source, err)
	}

	in := &authz.Input{Principal: principal, Request: authz.Request{
		Method: *method, Path: canon, Host: *host, Scheme: *scheme, Query: *query,
		Headers: headers.h, ClientIP: *clientIP, Upstream: up.Name(),
	}}
	doc, err := authz.InputDocument(in)
	if err != nil {
		return err
	}
	tracer := topdown.NewBufferTracer()
	d, err := engine.Explain(ctx, in, tracer)
	if err != nil {
		status := "500 Internal Server Error"
		if errors.Is(err, authz.ErrUndefined) {
			status = "403 Forbidden"
		}
		return fmt.Errorf("the gateway would deny with %s: %w", status, err)
	}

	rep := evalReport{Upstream: up.Name(), Policy: source, Revision: engine.Revision(), Input: doc, MatchedRules: matchedRules(*tracer)}
	rep.Decision.Allow, rep.Decision.Reason = d.Allow, d.Reason
	rep.Answer = answer(cfg, d, principal, headers.h, canon, *query, up.Name())
	if filter != nil {
		var buf bytes.Buffer
		topdown.PrettyTraceWithLocation(&buf, filter(*tracer))
		rep.Explain = strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	}

	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := env.Stdout
	who := "anonymous"
	if principal.IsAuthenticated() {
		who = fmt.Sprintf("%s (staff %v, superuser %v, groups [%s], %d permission(s))", principal.User.Username,
			principal.User.IsStaff, principal.User.IsSuperuser, strings.Join(principal.Groups, ", "), len(principal.Permissions))
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	fmt.Fprintf(w, "user:      %s\n", who)
	if note != "" {
		fmt.Fprintf(w, "           %s\n", note)
	}
	fmt.Fprintf(w, "request:   %s %s (host %s, upstream %s)\n", *method, canon+queryPart(*query), *host, up.Name())
	fmt.Fprintf(w, "policy:    %s (revision %s)\n", source, engine.Revision())
	fmt.Fprintf(w, "decision:  %s: %s\n", verdict, d.Reason)
	fmt.Fprintf(w, "answer:    %s\n", rep.Answer)
	fmt.Fprintln(w, "matched rules:")
	for _, m := range rep.MatchedRules {
		fmt.Fprintf(w, "  %s  %s\n", m.Location, m.Rule)
	}
	if filter != nil {
		fmt.Fprintf(w, "explain (%s):\n", *explain)
		for _, l := range rep.Explain {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// loadPrincipal loads the user's principal as the gateway does for a
// session: an inactive user is anonymous (Django's ModelBackend.get_user).
func loadPrincipal(ctx context.Context, env *runEnv, cfgPath, username string) (*authn.Principal, string, error) {
	id, err := env.openIdentity(ctx, cfgPath)
	if err != nil {
		return nil, "", err
	}
	defer id.Close()
	u, err := id.store.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, "", fmt.Errorf("user %q: %w", username, err)
	}
	p, err := id.store.LoadPrincipal(ctx, u.ID, "session")
	if err != nil {
		return nil, "", fmt.Errorf("user %q: %w", username, err)
	}
	if !p.User.IsActive {
		return authn.Anonymous, fmt.Sprintf("(user %q is inactive: the gateway treats its session as anonymous)", username), nil
	}
	// The profile the policy sees, as the server fills it in.
	p.Profile = id.profile.Effective(p.User.Profile)
	return p, "", nil
}

// answer is what the gateway would send, as server.authorize and
// writeError decide it.
func answer(cfg *config.Config, d authz.Decision, p *authn.Principal, h http.Header, path, query, upstream string) string {
	switch {
	case d.Allow:
		return "forward to upstream " + upstream
	case p.IsAuthenticated():
		return "403 Forbidden"
	case strings.Contains(h.Get("Accept"), "text/html"):
		return "302 Found to " + cfg.Prefix + "/login?next=" + url.QueryEscape(path+queryPart(query))
	default:
		return "401 Unauthorized (a browser sending Accept: text/html is redirected to the login page)"
	}
}

// matchedRules lists the rules and functions whose body succeeded during
// the evaluation (the trace's Exit events), in evaluation order.
func matchedRules(trace []*topdown.Event) []matchedRule {
	out := []matchedRule{}
	seen := map[string]bool{}
	for _, ev := range trace {
		if ev.Op != topdown.ExitOp {
			continue
		}
		r, ok := ev.Node.(*ast.Rule)
		if !ok || r.Location == nil {
			continue
		}
		loc := fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		if seen[loc] {
			continue
		}
		seen[loc] = true
		// The rule's own source line reads better than the compiled head
		// (whose arguments are rewritten to __localN__ variables).
		head, _, _ := strings.Cut(string(r.Location.Text), "\n")
		head = strings.TrimSpace(head)
		switch {
		case r.Default:
			head = "default " + r.Head.String()
		case head == "":
			head = r.Head.String()
		case strings.HasPrefix(head, "else"):
			head = r.Head.Ref().String() + " ... " + head
		}
		if len(head) > 120 {
			head = head[:117] + "..."
		}
		out = append(out, matchedRule{Location: loc, Rule: head})
	}
	return out
}

func policyTest(ctx context.Context, env *runEnv, args []string) error {
	flags := flag.NewFlagSet("policy test", flag.ContinueOnError)
	cfgPath := env.configFlag(flags)
	coverage := flags.Bool("coverage", false, "print the coverage of every policy file")
	verbose := flags.Bool("verbose", false, "print every test, with traces of the failing ones (opa test -v)")
	flags.BoolVar(verbose, "v", false, "same as --verbose")
	run := flags.String("run", "", "run only the tests whose name matches this regular expression")
	bundlePath := flags.String("bundle", "", "run the tests of the OPA bundle PATH (directory or .tar.gz), like opa test --bundle")
	pos, err := parse(flags, args, 0, 1)
	if err != nil {
		return policyHelp(env, flags, err)
	}
	if len(pos) == 1 && *bundlePath != "" {
		return fmt.Errorf("%w: give a policy directory or --bundle, not both", errUsage)
	}
	dir := "policies"
	if len(pos) == 1 {
		dir = pos[0]
	} else if *bundlePath == "" {
		p, err := configuredPolicy(env, *cfgPath)
		if err != nil {
			return err
		}
		switch {
		case p.Bundle != "":
			*bundlePath = p.Bundle
		case p.Dir != "":
			dir = p.Dir
		}
	}

	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	var (
		modules map[string]*ast.Module
		bundles map[string]*bundle.Bundle
		store   storage.Store
		source  = dir
	)
	if *bundlePath != "" {
		// Loaded as `opa test --bundle PATH` does: the bundle's modules,
		// its tests included, and its data.
		source = *bundlePath
		if bundles, store, err = tester.LoadBundlesWithParserOptions([]string{source}, nil, popts); err != nil {
			return err
		}
		if *coverage {
			modules = map[string]*ast.Module{}
			for name, b := range bundles {
				maps.Copy(modules, b.ParsedModules(name))
			}
		}
	} else {
		if st, err := os.Stat(dir); err != nil {
			return fmt.Errorf("policy directory: %w", err)
		} else if !st.IsDir() {
			return fmt.Errorf("policy directory: %s is not a directory", dir)
		}
		// Loaded and compiled as `opa test DIR` does (Rego v1).
		if modules, store, err = tester.LoadWithParserOptions([]string{dir}, nil, popts); err != nil {
			return err
		}
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return err
	}
	defer store.Abort(ctx, txn)
	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithEnablePrintStatements(true).
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithUseTypeCheckAnnotations(true)
	var cov *cover.Cover
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		CapturePrintOutput(true).
		EnableTracing(*verbose).
		StackTraces(true).
		SetModules(modules).
		SetBundles(bundles).
		SetTimeout(5 * time.Second).
		Filter(*run)
	if *coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return err
	}
	total, failed := 0, 0
	dup := make(chan *tester.Result)
	go func() {
		defer close(dup)
		for r := range ch {
			total++
			if !r.Pass() && !r.Skip {
				failed++
			}
			dup <- r
		}
	}()
	if err := (tester.PrettyReporter{Output: env.Stdout, Verbose: *verbose}).Report(dup); err != nil {
		return err
	}
	if cov != nil {
		printCoverage(env.Stdout, cov.Report(modules))
	}
	switch {
	case total == 0:
		return fmt.Errorf("no tests found in %s", source)
	case failed > 0:
		return fmt.Errorf("%d of %d test(s) failed or errored", failed, total)
	}
	return nil
}

// configuredPolicy is the policy section of the configuration file, or
// the defaults when the file does not exist.
func configuredPolicy(env *runEnv, cfgPath string) (config.Policy, error) {
	if _, err := os.Stat(cfgPath); err != nil {
		return config.Default().Policy, nil
	}
	cfg, err := env.loadConfig(cfgPath, false)
	if err != nil {
		return config.Policy{}, err
	}
	return cfg.Policy, nil
}

func policyBuild(ctx context.Context, env *runEnv, args []string) error {
	flags := flag.NewFlagSet("policy build", flag.ContinueOnError)
	cfgPath := env.configFlag(flags)
	dirFlag := flags.String("dir", "", "the policy directory (default: policy.dir from the configuration, or ./policies)")
	out := flags.String("o", "", "the bundle file to write, e.g. policy.tar.gz (required)")
	flags.StringVar(out, "output", "", "same as -o")
	rev := flags.String("revision", "", "the bundle's revision (default: none; the gateway then names it by a hash of its contents)")
	if _, err := parse(flags, args, 0, 0); err != nil {
		return policyHelp(env, flags, err)
	}
	if *out == "" {
		return fmt.Errorf("%w: -o FILE is required", errUsage)
	}
	p, err := configuredPolicy(env, *cfgPath)
	if err != nil {
		return err
	}
	dir := cmp.Or(*dirFlag, p.Dir, "policies")
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("policy directory: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("policy directory: %s is not a directory", dir)
	}

	// OPA's loader reads a .tar.gz inside a policy directory as part of
	// the policy: a bundle written there would break the directory.
	if absDir, err := filepath.Abs(dir); err == nil {
		if absOut, err := filepath.Abs(*out); err == nil {
			if rel, err := filepath.Rel(absDir, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%w: -o %s is inside the policy directory %s; write the bundle elsewhere (OPA would load it as part of the directory)", errUsage, *out, dir)
			}
		}
	}

	// Written next to the target, checked, then renamed over it.
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	if err := authz.BuildBundle(ctx, dir, tmp, *rev); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	engine, err := authz.New(ctx, authz.Options{Bundle: tmp.Name(), Source: dir, Query: p.Query, Timeout: p.Timeout, Logger: quiet})
	if err != nil {
		return fmt.Errorf("the gateway would refuse this policy; %s not written: %w", *out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s: bundle of %s written (revision %s)\n", *out, dir, engine.Revision())
	return nil
}

// printCoverage prints the coverage of every policy file (the test files
// themselves left out) and of all of them together.
func printCoverage(w io.Writer, rep cover.Report) {
	names := make([]string, 0, len(rep.Files))
	for name := range rep.Files {
		if !strings.HasSuffix(name, "_test.rego") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	fmt.Fprintln(w, "\nCoverage:")
	covered, notCovered := 0, 0
	for _, name := range names {
		f := rep.Files[name]
		covered, notCovered = covered+f.CoveredLines, notCovered+f.NotCoveredLines
		fmt.Fprintf(w, "  %-40s %6.2f%%  (%d/%d lines)\n", filepath.ToSlash(name), percent(f.CoveredLines, f.NotCoveredLines), f.CoveredLines, f.CoveredLines+f.NotCoveredLines)
	}
	fmt.Fprintf(w, "  %-40s %6.2f%%  (%d/%d lines)\n", "total", percent(covered, notCovered), covered, covered+notCovered)
}

func percent(covered, notCovered int) float64 {
	if covered+notCovered == 0 {
		return 100
	}
	return 100 * float64(covered) / float64(covered+notCovered)
}
