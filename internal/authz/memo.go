package authz

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// The decision memo. A compiled policy that calls no nondeterministic
// built-in (time.now_ns, http.send, rand.intn, ...) is a pure function of
// its input and its data, and its data changes only with a reload, which
// brings a new memo. So a decision can be remembered under the parts of
// the input the policy reads, and a later request with the same parts is
// answered without evaluating: the same principal on the same method and
// path, typically. Which parts those are is read from the compiled
// modules (readDeps): every reference into input, conservatively widened
// to the whole request (or the whole input) when a reference is not a
// constant path. Only well-formed decisions are remembered; errors are
// evaluated again every time.

// Request fields a policy may read, one bit each. Derived fields share the
// bit of the field they come from (parsed_path is path, port is host).
const (
	depMethod uint16 = 1 << iota
	depPath
	depHost
	depScheme
	depQuery
	depClientIP
	depUpstream
	depUser
	depAllRequest = depMethod | depPath | depHost | depScheme | depQuery | depClientIP | depUpstream
)

// requestFields maps input.request's keys to their dependency bit.
var requestFields = map[string]uint16{
	"method": depMethod, "path": depPath, "parsed_path": depPath,
	"host": depHost, "port": depHost, "scheme": depScheme,
	"query": depQuery, "parsed_query": depQuery, "query_malformed": depQuery,
	"client_ip": depClientIP, "upstream": depUpstream,
}

// inputDeps is what of the input a compiled policy can read.
type inputDeps struct {
	fields uint16
	// headers are the lower-case header names read by constant reference
	// (input.request.headers["x-tenant"]), sorted; allHeaders means the
	// headers object is read as a whole or by a variable key.
	headers    []string
	allHeaders bool
	// nondeterministic names a nondeterministic built-in the policy
	// calls ("" if none): such a policy is never memoized.
	nondeterministic string
}

// readDeps walks every compiled module for references into input and
// calls of nondeterministic built-ins.
func readDeps(c *ast.Compiler) inputDeps {
	var d inputDeps
	headers := map[string]bool{}
	visit := func(ref ast.Ref) {
		if len(ref) == 0 || !ref[0].Equal(ast.InputRootDocument) {
			return
		}
		part := func(i int) (string, bool) {
			if i >= len(ref) {
				return "", false
			}
			s, ok := ref[i].Value.(ast.String)
			return string(s), ok
		}
		top, ok := part(1)
		switch {
		case !ok: // input, or input[x]
			d.fields |= depAllRequest | depUser
			d.allHeaders = true
		case top == "user":
			d.fields |= depUser
		case top == "request":
			field, ok := part(2)
			switch {
			case !ok: // input.request, or input.request[x]
				d.fields |= depAllRequest
				d.allHeaders = true
			case field == "headers":
				if name, ok := part(3); ok {
					headers[strings.ToLower(name)] = true
				} else {
					d.allHeaders = true
				}
			default:
				d.fields |= requestFields[field] // an unknown field is always undefined
			}
		}
	}
	for _, m := range c.Modules {
		ast.WalkRefs(m, func(ref ast.Ref) bool { visit(ref); return false })
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if d.nondeterministic == "" && e.IsCall() {
				d.nondeterministic = nondeterministicName(e.Operator())
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok && d.nondeterministic == "" && len(call) > 0 {
				if ref, ok := call[0].Value.(ast.Ref); ok {
					d.nondeterministic = nondeterministicName(ref)
				}
			}
			return false
		})
	}
	for h := range headers {
		d.headers = append(d.headers, h)
	}
	slices.Sort(d.headers)
	return d
}

// MemoStats are the decision memo's hits and misses since the engine
// started, over every policy loaded, and the entries of the policy in
// force (0 when its decisions are not memoized).
func (e *Engine) MemoStats() (hits, misses uint64, entries int) {
	if m := e.current.Load().memo; m != nil {
		entries = m.len()
	}
	return e.memoHits.Load(), e.memoMisses.Load(), entries
}

// memoState says whether p's decisions are memoized, for the load log.
func (p *policy) memoState() string {
	switch {
	case p.deps.nondeterministic != "":
		return "off: the policy calls " + p.deps.nondeterministic
	case p.memo == nil:
		return "off"
	}
	return "on"
}

func nondeterministicName(op ast.Ref) string {
	name := op.String()
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return name
	}
	return ""
}

// memoShards spreads the memo's lock over independent maps.
const memoShards = 16

// memo is a bounded map from a decision key (see key) to the decision.
// Each shard keeps two generations: when the current one is full it
// becomes the old one and the one before is dropped, so memory stays
// bounded and recently used entries (found in the old generation and
// copied forward) survive.
type memo struct {
	deps     inputDeps
	perShard int
	shards   [memoShards]memoShard
}

type memoShard struct {
	mu       sync.RWMutex
	cur, old map[memoKey]Decision
}

type memoKey [sha256.Size]byte

// newMemo returns a memo of about size entries for a policy with deps, or
// nil when the policy cannot be memoized or size is 0.
func newMemo(deps inputDeps, size int) *memo {
	if size <= 0 || deps.nondeterministic != "" {
		return nil
	}
	m := &memo{deps: deps, perShard: max(size/memoShards/2, 1)}
	for i := range m.shards {
		m.shards[i].cur = make(map[memoKey]Decision)
	}
	return m
}

func (m *memo) get(k memoKey) (Decision, bool) {
	sh := &m.shards[k[0]%memoShards]
	sh.mu.RLock()
	d, ok := sh.cur[k]
	fromOld := false
	if !ok {
		d, ok = sh.old[k]
		fromOld = ok
	}
	sh.mu.RUnlock()
	if fromOld {
		m.put(k, d)
	}
	return d, ok
}

func (m *memo) put(k memoKey, d Decision) {
	sh := &m.shards[k[0]%memoShards]
	sh.mu.Lock()
	if len(sh.cur) >= m.perShard {
		sh.old, sh.cur = sh.cur, make(map[memoKey]Decision, m.perShard)
	}
	sh.cur[k] = d
	sh.mu.Unlock()
}

// len is the number of entries (both generations), for tests.
func (m *memo) len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.cur) + len(sh.old)
		sh.mu.RUnlock()
	}
	return n
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// key is the SHA-256 of everything in in that the policy can read,
// each part length-prefixed so that no two inputs share an encoding.
func (m *memo) key(in *Input) memoKey {
	bp := keyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	d := &m.deps
	r := &in.Request
	if d.fields&depUser != 0 {
		b = appendUser(b, in.Principal)
	}
	for _, f := range [...]struct {
		bit uint16
		v   string
	}{
		{depMethod, r.Method}, {depPath, r.Path}, {depHost, r.Host}, {depScheme, r.Scheme},
		{depQuery, r.Query}, {depClientIP, r.ClientIP}, {depUpstream, r.Upstream},
	} {
		if d.fields&f.bit != 0 {
			b = appendStr(b, f.v)
		}
	}
	switch {
	case d.allHeaders:
		b = appendAllHeaders(b, r.Headers)
	case len(d.headers) > 0:
		for _, name := range d.headers {
			b = appendHeader(b, r.Headers, name)
		}
	}
	k := memoKey(sha256.Sum256(b))
	*bp = b
	keyBufs.Put(bp)
	return k
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendStrs(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// appendUser writes everything buildUser puts into input.user. Keep the
// two in step: TestMemoKeyCoversUser fails when a field reaches the input
// without reaching the key.
func appendUser(b []byte, p *authn.Principal) []byte {
	if !p.IsAuthenticated() {
		return append(b, 0)
	}
	u := p.User
	b = append(b, 1)
	b = appendStr(b, u.Username)
	b = appendStr(b, u.Email)
	b = appendStr(b, u.FirstName)
	b = appendStr(b, u.LastName)
	b = appendBool(b, u.IsActive)
	b = appendBool(b, u.IsStaff)
	b = appendBool(b, u.IsSuperuser)
	b = appendStrs(b, p.Groups)
	b = appendStrs(b, p.Permissions)
	b = appendStr(b, p.Backend)
	return appendProfile(b, p.Profile)
}

// appendProfile writes the effective profile as buildProfile reads it:
// names sorted, each value with its type.
func appendProfile(b []byte, values profile.Values) []byte {
	b = binary.AppendUvarint(b, uint64(len(values)))
	if len(values) == 0 {
		return b
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b = appendStr(b, name)
		switch v := values[name].(type) {
		case string:
			b = appendStr(append(b, 's'), v)
		case int64:
			b = binary.AppendVarint(append(b, 'i'), v)
		case bool:
			b = appendBool(append(b, 'b'), v)
		case []string:
			b = appendStrs(append(b, 'l'), v)
		case time.Time:
			b = appendStr(append(b, 't'), v.UTC().Format(time.RFC3339Nano))
		default:
			b = append(b, '?') // buildProfile leaves it out too
		}
	}
	return b
}

// appendHeader writes the value buildHeaders gives the lower-case name.
func appendHeader(b []byte, h http.Header, name string) []byte {
	n := 0
	for k, vs := range h {
		if len(vs) == 0 || !strings.EqualFold(k, name) {
			continue
		}
		n++
		b = appendStrs(b, vs)
	}
	// Different spellings of one name are joined in map order by
	// buildHeaders; a key per spelling count keeps such rare requests
	// apart without sorting.
	return binary.AppendUvarint(b, uint64(n))
}

func appendAllHeaders(b []byte, h http.Header) []byte {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		if secretHeaders[strings.ToLower(k)] {
			continue
		}
		b = appendStr(b, k)
		b = appendStrs(b, h[k])
	}
	return b
}
