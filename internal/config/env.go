package config

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable the gateway reads.
const EnvPrefix = "GATEWAY_"

// cliEnv are GATEWAY_* variables that belong to the command line tool, not
// to the configuration, so ApplyEnv does not report them as unknown.
var cliEnv = map[string]bool{
	"GATEWAY_CONFIG":             true, // path of the config file
	"GATEWAY_SUPERUSER_PASSWORD": true, // createsuperuser --noinput
}

// EnvName returns the environment variable that overrides key path
// keyPath: "GATEWAY_" + the path upper-cased, with "." and "[i]" turned
// into "_" and "_i". EnvName("upstreams[0].match.path_prefix") is
// "GATEWAY_UPSTREAMS_0_MATCH_PATH_PREFIX".
func EnvName(keyPath string) string {
	r := strings.NewReplacer(".", "_", "[", "_", "]", "")
	return EnvPrefix + strings.ToUpper(r.Replace(keyPath))
}

// ApplyEnv applies the GATEWAY_* variables of environ ("NAME=value"
// entries, as from os.Environ) on top of c. Each variable is named after a
// key path (see EnvName) and parsed by the key's type: "[]string" keys take
// a comma-separated list, booleans take strconv.ParseBool's forms,
// durations take Go duration strings.
//
// For a list of mappings (upstreams, password_hashers) the index may name
// an existing entry or the next one, which is appended, so a deployment can
// define upstreams from the environment alone; an index past that is an
// error. Variables are applied in key-path order with indices compared as
// numbers, so the order of environ does not matter; if a name occurs more
// than once the last occurrence wins.
//
// A GATEWAY_* variable that names no setting is an error (except the CLI's
// GATEWAY_CONFIG and GATEWAY_SUPERUSER_PASSWORD), so a
// typo cannot go unnoticed. All problems are reported, as an *Error;
// settings whose variables are fine are applied even then.
func (c *Config) ApplyEnv(environ []string) error {
	_, probs, _ := c.applyEnv(environ)
	if len(probs) > 0 {
		return &Error{Problems: probs}
	}
	return nil
}

// envSetting is one GATEWAY_* variable resolved to a setting.
type envSetting struct {
	name  string
	value string
	path  string    // key path, e.g. "upstreams[0].url"
	steps []envStep // how to reach the field from Config
	kind  kind
}

// envStep is one step from a struct to a field: the field, and for a list
// of mappings the index of the element.
type envStep struct {
	field int
	index int // -1 when the field is not a list
	list  string
}

// applyEnv returns the variables applied (key path -> variable name), the
// problems, and the key paths that had problems.
func (c *Config) applyEnv(environ []string) (set map[string]string, probs []SourcedProblem, failed map[string]bool) {
	set = map[string]string{}
	failed = map[string]bool{}
	vars := map[string]string{}
	var names []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || cliEnv[name] {
			continue
		}
		if _, dup := vars[name]; !dup {
			names = append(names, name)
		}
		vars[name] = value
	}
	var settings []envSetting
	for _, name := range names {
		s, msg := resolveEnv(name)
		if msg != "" {
			probs = append(probs, SourcedProblem{EnvVar: name, Problem: Problem{Message: msg}})
			continue
		}
		s.value = vars[name]
		settings = append(settings, s)
	}
	slices.SortStableFunc(settings, func(a, b envSetting) int {
		for i := 0; i < len(a.steps) && i < len(b.steps); i++ {
			if c := cmp.Compare(a.steps[i].field, b.steps[i].field); c != 0 {
				return c
			}
			if c := cmp.Compare(a.steps[i].index, b.steps[i].index); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a.steps), len(b.steps))
	})

	root := reflect.ValueOf(c).Elem()
	for _, s := range settings {
		problem := func(msg string) {
			failed[s.path] = true
			probs = append(probs, SourcedProblem{EnvVar: s.name, Problem: Problem{Path: s.path, Message: msg}})
		}
		v, msg := walkEnv(root, s.steps)
		if msg != "" {
			problem(msg)
			continue
		}
		if msg := setFromEnv(v, s.kind, s.value); msg != "" {
			problem(msg)
			continue
		}
		set[s.path] = s.name
	}
	return set, probs, failed
}

// walkEnv follows steps from root to the field they name, appending a new
// element to a list when the index is the list's length.
func walkEnv(root reflect.Value, steps []envStep) (reflect.Value, string) {
	v := root
	for _, st := range steps {
		v = v.Field(st.field)
		if st.index < 0 {
			continue
		}
		switch n := v.Len(); {
		case st.index == n:
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		case st.index > n:
			entries := "entries"
			if n == 1 {
				entries = "entry"
			}
			return reflect.Value{}, fmt.Sprintf(
				"index %d leaves a gap: %s has %d %s, so the next new entry is %s",
				st.index, st.list, n, entries, indexPath(st.list, n))
		}
		v = v.Index(st.index)
	}
	return v, ""
}

// setFromEnv parses value by kind and stores it in v. It returns a
// message when the value does not parse; v is then unchanged.
func setFromEnv(v reflect.Value, k kind, value string) string {
	switch k {
	case kindString:
		v.SetString(value)
	case kindStrings:
		var list []string
		for item := range strings.SplitSeq(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	case kindInt:
		i, err := strconv.ParseInt(strings.TrimSpace(value), 10, strconv.IntSize)
		if err != nil {
			return "must be an integer, got " + quoteValue(value)
		}
		v.SetInt(i)
	case kindFloat, kindFloatPtr:
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "must be a finite number, got " + quoteValue(value)
		}
		if k == kindFloatPtr {
			v.Set(reflect.ValueOf(&f))
		} else {
			v.SetFloat(f)
		}
	case kindBool, kindBoolPtr:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return "must be a boolean (true or false), got " + quoteValue(value)
		}
		if k == kindBoolPtr {
			v.Set(reflect.ValueOf(&b))
		} else {
			v.SetBool(b)
		}
	case kindValue:
		// Text, parsed by the type another setting gives (profile values
		// as on the command line).
		v.Set(reflect.ValueOf(Value{Set: true, Text: value}))
	case kindDuration:
		d, msg := parseDuration(value)
		if msg != "" {
			return msg
		}
		v.SetInt(int64(d))
	default:
		return "cannot be set from the environment"
	}
	return ""
}

// parseDuration parses a Go duration string. A bare number is refused
// with a message that asks for a unit: "30" could mean seconds or
// milliseconds, and time.Duration would read it as nanoseconds.
func parseDuration(s string) (time.Duration, string) {
	t := strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Sprintf("bare number %s has no unit; write a duration with a unit, e.g. \"5s\", \"250ms\" or \"336h\"", quoteValue(s))
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Sprintf("must be a duration such as \"5s\", \"250ms\" or \"336h\", got %s", quoteValue(s))
	}
	return d, ""
}

// resolveEnv maps a GATEWAY_* name to the setting it overrides by
// matching it against the key paths of Config, so names whose keys contain
// underscores resolve correctly (GATEWAY_SESSION_SAME_SITE is
// session.same_site). It returns a message when the name maps to no
// setting, or to more than one.
func resolveEnv(name string) (envSetting, string) {
	rest := strings.TrimPrefix(name, EnvPrefix)
	var found []envSetting
	var sections []string
	var walk func(t reflect.Type, rest, path string, steps []envStep)
	walk = func(t reflect.Type, rest, path string, steps []envStep) {
		for _, f := range fieldsOf(t) {
			up := strings.ToUpper(f.name)
			p := joinPath(path, f.name)
			st := append(slices.Clip(steps), envStep{field: f.index, index: -1})
			if rest == up {
				switch f.kind {
				case kindStruct, kindStructs:
					sections = append(sections, p)
				default:
					found = append(found, envSetting{name: name, path: p, steps: st, kind: f.kind})
				}
				continue
			}
			after, ok := strings.CutPrefix(rest, up+"_")
			if !ok {
				continue
			}
			switch f.kind {
			case kindStruct:
				walk(f.typ, after, p, st)
			case kindStructs:
				digits, tail, ok := strings.Cut(after, "_")
				i, err := strconv.Atoi(digits)
				if !ok || err != nil || i < 0 || strconv.Itoa(i) != digits {
					continue
				}
				st[len(st)-1].index = i
				st[len(st)-1].list = p
				walk(f.typ.Elem(), tail, indexPath(p, i), st)
			}
		}
	}
	walk(reflect.TypeFor[Config](), rest, "", nil)
	switch {
	case len(found) == 1:
		return found[0], ""
	case len(found) > 1:
		paths := make([]string, len(found))
		for i, f := range found {
			paths[i] = f.path
		}
		return envSetting{}, "ambiguous: matches " + strings.Join(paths, ", ")
	case len(sections) > 0:
		return envSetting{}, fmt.Sprintf("%s is a section; set its keys one by one, e.g. %s", sections[0], exampleUnder(sections[0]))
	}
	msg := "does not match any setting"
	if s := suggestEnv(name); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return envSetting{}, msg
}

// exampleUnder names the variable of the first setting under section.
func exampleUnder(section string) string {
	for _, p := range leafPaths() {
		concrete := strings.ReplaceAll(p, "[i]", "[0]")
		if strings.HasPrefix(concrete, section+".") || strings.HasPrefix(concrete, section+"[") {
			return EnvName(concrete)
		}
	}
	return EnvName(section)
}

// suggestEnv returns the known variable closest to name, if close enough
// to be a likely typo.
func suggestEnv(name string) string {
	// Use the first index in name, if any, for list settings.
	idx := "0"
	for part := range strings.SplitSeq(name, "_") {
		if i, err := strconv.Atoi(part); err == nil && i >= 0 {
			idx = strconv.Itoa(i)
			break
		}
	}
	best, bestDist := "", 4 // suggest only within 3 edits...
	for _, p := range leafPaths() {
		cand := EnvName(strings.ReplaceAll(p, "[i]", "["+idx+"]"))
		if cand == name {
			continue
		}
		d := levenshtein(name, cand)
		if strings.HasPrefix(cand, name+"_") {
			d = 1 // ...or when the name was cut short
		}
		if d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
