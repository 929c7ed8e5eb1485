package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxNodeVisits bounds the work of one decode. Real configurations visit a
// few hundred nodes; the bound only matters for documents that reuse
// anchors many times over (an "alias bomb").
const maxNodeVisits = 100_000

// maxDecodeProblems bounds the problems one decode reports; past it, the
// rest of the document is not looked at.
const maxDecodeProblems = 100

// Decode strictly decodes a YAML document into a Config. It does not apply
// environment overrides or defaults and does not validate. name is the
// file name used in problems ("config.yaml: redis.db: must be an integer,
// got "x" (line 5)"). An empty document is valid and yields a zero Config.
//
// Every problem is reported, not just the first: unknown and duplicate
// keys, values of the wrong type, durations without a unit. The error is
// an *Error.
func Decode(name string, data []byte) (*Config, error) {
	cfg, probs, _ := decode(name, data)
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return cfg, nil
}

// decode is Decode that also returns the partially decoded Config and the
// key paths that had problems, so Load can go on to report environment and
// validation problems in the same run. cfg is never nil.
func decode(name string, data []byte) (cfg *Config, probs []SourcedProblem, failed map[string]bool) {
	d := &decoder{file: name, failed: map[string]bool{}, budget: maxNodeVisits}
	cfg = &Config{}
	root, err := parseYAML(data)
	if err != nil {
		msg, line := yamlErrorLine(err)
		d.failed[""] = true // nothing was decoded: validating would only add noise
		d.problems = append(d.problems, SourcedProblem{
			Problem: Problem{Message: "invalid YAML: " + msg},
			File:    name,
			Line:    line,
		})
		return cfg, d.problems, d.failed
	}
	if root != nil {
		d.value(root, reflect.ValueOf(cfg).Elem(), "")
	}
	return cfg, d.problems, d.failed
}

// parseYAML parses data into the content node of its single document, or
// nil for an empty document. More than one document is an error: the
// second would silently be ignored otherwise.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML library must never take the gateway down on a bad
		// file; turn any panic of the parser into an error.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("yaml: line %d: more than one document; the file must hold exactly one", max(extra.Line, 1))
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlErrorLine turns "yaml: line 3: mapping values are not allowed in
// this context" into the message and the line.
func yamlErrorLine(err error) (string, int) {
	s := err.Error()
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		line, _ := strconv.Atoi(m[1])
		return m[2], line
	}
	return strings.TrimPrefix(s, "yaml: "), 0
}

type decoder struct {
	file     string
	problems []SourcedProblem
	failed   map[string]bool
	budget   int
	overrun  bool
}

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	if d.overrun {
		return
	}
	d.failed[path] = true
	if len(d.problems) >= maxDecodeProblems {
		d.overrun = true
		d.failed[""] = true
		path, format, args = "", "too many problems; stopped here after %d, fix these first", []any{maxDecodeProblems}
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, SourcedProblem{
		Problem: Problem{Path: path, Message: fmt.Sprintf(format, args...)},
		File:    d.file,
		Line:    line,
	})
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		s := quoteValue(n.Value)
		if n.ShortTag() == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			s += " (a quoted string)"
		}
		return s
	}
	return "an unsupported YAML node"
}

// quoteValue quotes a value for a message, shortening long ones.
func quoteValue(s string) string {
	const maxLen = 60
	if utf8.RuneCountInString(s) > maxLen {
		s = string([]rune(s)[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}

// spend charges one unit of work and reports whether any is left. Once
// the budget is exhausted, one problem is reported and decoding stops.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.overrun {
		return false
	}
	if d.budget--; d.budget >= 0 {
		return true
	}
	d.fail("", n, "document too large or too deeply aliased")
	d.overrun = true
	return false
}

// value decodes n into v, which is addressable, at key path path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n) {
		return
	}
	n = resolve(n)
	if n == nil || isNull(n) {
		return // an empty value leaves the setting unset (default)
	}
	switch kindOf(v.Type()) {
	case kindStruct:
		d.mapping(n, v, path)
	case kindStructs:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p := indexPath(path, i)
			if re := resolve(e); re != nil && re.Kind != yaml.MappingNode && !isNull(re) {
				d.fail(p, re, "must be a mapping, got %s", describe(re))
				continue
			}
			d.value(e, s.Index(i), p)
		}
		v.Set(s)
	case kindStrings:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "must be a list of strings, got %s", describe(n))
			return
		}
		s := make([]string, len(n.Content))
		for i, e := range n.Content {
			if !d.spend(e) {
				return
			}
			s[i], _ = d.str(e, indexPath(path, i))
		}
		v.Set(reflect.ValueOf(s))
	case kindString:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case kindInt:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.fail(path, n, "must be an integer, got %s", describe(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || i < math.MinInt || i > math.MaxInt {
			d.fail(path, n, "must be an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case kindFloat, kindFloatPtr:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			d.fail(path, n, "must be a number, got %s", describe(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(path, n, "must be a finite number, got %s", describe(n))
			return
		}
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.ValueOf(&f))
		} else {
			v.SetFloat(f)
		}
	case kindBool, kindBoolPtr:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(path, n, "must be a boolean (true or false), got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(path, n, "must be a boolean (true or false), got %s", describe(n))
			return
		}
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.ValueOf(&b))
		} else {
			v.SetBool(b)
		}
	case kindDuration:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "must be a duration such as \"5s\", \"250ms\" or \"336h\", got %s", describe(n))
			return
		}
		tag := n.ShortTag()
		if tag != "!!str" && tag != "!!int" && tag != "!!float" {
			d.fail(path, n, "must be a duration such as \"5s\", \"250ms\" or \"336h\", got %s", describe(n))
			return
		}
		dur, msg := parseDuration(n.Value)
		if msg != "" {
			d.fail(path, n, "%s", msg)
			return
		}
		v.SetInt(int64(dur))
	case kindValue:
		d.anyValue(n, v, path)
	default:
		// Unreachable for Config; TestSchemaSupported guards it.
		d.fail(path, n, "unsupported setting type %s", v.Type())
	}
}

// anyValue decodes a Value: a scalar, kept as text with its tag, or a
// list of scalars (strings, numbers and timestamps as their text).
func (d *decoder) anyValue(n *yaml.Node, v reflect.Value, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			v.Set(reflect.ValueOf(Value{Set: true, Tag: tag, Text: n.Value}))
		default:
			d.fail(path, n, "must be a scalar or a list, got a value tagged %s", quoteValue(tag))
		}
	case yaml.SequenceNode:
		list := make([]string, len(n.Content))
		for i, e := range n.Content {
			if !d.spend(e) {
				return
			}
			s, ok := d.str(e, indexPath(path, i))
			if !ok {
				return
			}
			list[i] = s
		}
		v.Set(reflect.ValueOf(Value{Set: true, IsList: true, List: list}))
	default:
		d.fail(path, n, "must be a scalar or a list, got %s", describe(n))
	}
}

// str decodes a scalar string. Numbers and timestamps keep their source
// text (so "password: 0123" is "0123"); booleans are refused, since
// "name: true" is far more likely a mistake than the text "true".
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n, "must be a string, got %s", describe(n))
		return "", false
	}
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return n.Value, true
	case "!!bool":
		d.fail(path, n, "must be a string, got %s (quote it if you mean the text)", n.Value)
	default:
		d.fail(path, n, "must be a string, got a value tagged %s", quoteValue(tag))
	}
	return "", false
}

// mapping decodes a YAML mapping into struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	byName := make(map[string]field, len(fields))
	for _, f := range fields {
		byName[f.name] = f
	}

	type entry struct{ key, val *yaml.Node }
	var entries []entry
	seen := map[string]int{} // key -> line of first definition
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			if k == nil {
				k = n.Content[i]
			}
			d.fail(path, k, "keys must be plain names, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		kp := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(kp, k, "duplicate key; first set at line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		entries = append(entries, entry{k, val})
	}
	// Merge keys ("<<: *defaults") contribute the keys not set explicitly;
	// of several merged mappings the first wins, as in YAML 1.1.
	for _, m := range merges {
		m = resolve(m)
		var sources []*yaml.Node
		switch {
		case m == nil || isNull(m):
		case m.Kind == yaml.MappingNode:
			sources = []*yaml.Node{m}
		case m.Kind == yaml.SequenceNode:
			for _, s := range m.Content {
				sources = append(sources, resolve(s))
			}
		default:
			d.fail(path, m, "merge key \"<<\" must refer to a mapping or a list of mappings, got %s", describe(m))
		}
		for _, s := range sources {
			if s == nil || s.Kind != yaml.MappingNode {
				d.fail(path, m, "merge key \"<<\" must refer to a mapping or a list of mappings")
				continue
			}
			for i := 0; i+1 < len(s.Content); i += 2 {
				if !d.spend(s) {
					return
				}
				k := resolve(s.Content[i])
				if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
					d.fail(path, s.Content[i], "nested merge keys are not supported")
					continue
				}
				if _, dup := seen[k.Value]; dup {
					continue
				}
				seen[k.Value] = k.Line
				entries = append(entries, entry{k, s.Content[i+1]})
			}
		}
	}

	for _, e := range entries {
		if !d.spend(e.key) {
			return
		}
		kp := joinPath(path, e.key.Value)
		f, ok := byName[e.key.Value]
		if !ok {
			d.fail(kp, e.key, "unknown key")
			continue
		}
		d.value(e.val, v.Field(f.index), kp)
	}
}
