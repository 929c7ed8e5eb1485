package authz

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Explain evaluates in exactly like Decide (same prepared query, input and
// timeout), recording OPA's trace events in tracer: a
// *topdown.BufferTracer gives what `opa eval --explain` prints. It is for
// tooling (`gateway policy eval`); tracing makes it slower than Decide.
func (e *Engine) Explain(ctx context.Context, in *Input, tracer topdown.QueryTracer) (Decision, error) {
	if tracer == nil {
		return e.Decide(ctx, in)
	}
	return e.evaluate(ctx, e.current.Load(), in, rego.EvalQueryTracer(tracer))
}

// InputDocument returns the input document the policy sees for in, as
// JSON-compatible Go values (sets become arrays).
func InputDocument(in *Input) (any, error) {
	v, err := buildInput(in)
	if err != nil {
		return nil, err
	}
	return ast.JSON(v)
}
