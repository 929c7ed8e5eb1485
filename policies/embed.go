// Package policies holds the gateway's default Rego policy and route data.
package policies

import "embed"

// FS is the default policy compiled into the binary for the quickstart:
// every .rego file (the policy, the Django library and their _test.rego
// files) and every .yaml data file of this directory, at the root of the
// file system. Pass it to authz.New as Options.FS with Source "embedded";
// the engine skips the _test.rego files. Add a pattern here when adding a
// data file of another type (.json), so the embedded policy sees the same
// data tree as `opa test policies/`.
//
//go:embed *.rego *.yaml
var FS embed.FS
