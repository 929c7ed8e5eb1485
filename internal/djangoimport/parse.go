package djangoimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// ErrInvalidFixture is wrapped by every *Error.
var ErrInvalidFixture = errors.New("invalid Django fixture")

// Problem is one thing wrong with a fixture.
type Problem struct {
	// Index is the 0-based position of the object in the file's array, or
	// -1 for a problem with the file as a whole.
	Index int
	// Model is the object's "model" ("auth.user"), when it has one.
	Model string
	// Name identifies the object for people: the username, group name,
	// permission codename or content type "app_label.model", when known.
	Name string
	// PK is the object's primary key, when it has one.
	PK    int64
	HasPK bool
	// Field is the field at fault ("is_active"), or "" for the object.
	Field string
	// Message says what is wrong. It never contains a password hash.
	Message string
}

// String is `object 17 (auth.user "alice"): field "is_active": want true
// or false, got "yes"`.
func (p Problem) String() string {
	var b strings.Builder
	if p.Index >= 0 {
		fmt.Fprintf(&b, "object %d", p.Index)
		var what []string
		if p.Model != "" {
			what = append(what, p.Model)
		}
		switch {
		case p.Name != "":
			what = append(what, strconv.Quote(p.Name))
		case p.HasPK:
			what = append(what, "pk "+strconv.FormatInt(p.PK, 10))
		}
		if len(what) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(what, " "))
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		fmt.Fprintf(&b, "field %q: ", p.Field)
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in a fixture; nothing is imported from
// a fixture with problems.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return ErrInvalidFixture.Error() + ": " + e.Problems[0].String()
	}
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("%s: %d problems:", ErrInvalidFixture, len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

func (e *Error) Unwrap() error { return ErrInvalidFixture }

// Fixture is a parsed, validated Django dump with every reference
// resolved, in a canonical order: the same data gives the same Fixture
// whatever the dump's format and object order.
type Fixture struct {
	// Models are the content types, sorted by label, each with its
	// permissions sorted by codename.
	Models []authn.Model
	// Groups are sorted by name; their permissions are sorted.
	Groups []authn.ImportGroup
	// Users are sorted by username; their groups and permissions are
	// sorted. ID is zero. User.Profile holds the values of the custom
	// user model's columns mapped onto profile fields.
	Users []authn.ImportUser
	// Unmapped are the custom user model's columns that no profile field
	// takes, sorted: they are not imported.
	Unmapped []UnmappedColumn
	// MissingRequired counts, per required profile field without a
	// default, the users the fixture gives no value: they are imported
	// without one, like users created before the field was declared.
	MissingRequired map[string]int
}

// UnmappedColumn is a column of the custom user model that was not
// imported, and how many users have a value (not null) in it.
type UnmappedColumn struct {
	Column string
	Users  int
}

// Set is the fixture as the store imports it.
func (f *Fixture) Set() authn.ImportSet {
	return authn.ImportSet{Models: f.Models, Groups: f.Groups, Users: f.Users}
}

// Permissions counts the fixture's permissions.
func (f *Fixture) Permissions() int {
	n := 0
	for _, m := range f.Models {
		n += len(m.Permissions)
	}
	return n
}

// Model names as dumpdata writes them.
const (
	modelContentType = "contenttypes.contenttype"
	modelPermission  = "auth.permission"
	modelGroup       = "auth.group"
	modelUser        = "auth.user"
)

// obj is what every object has.
type obj struct {
	index int
	model string
	pk    int64
	hasPK bool
	name  string
	valid bool // no problem found in the object itself
}

type ref struct {
	item    int
	pk      int64
	natural []string // nil for a pk
}

type contentType struct {
	obj
	app, model string
}

type permission struct {
	obj
	display  string // Permission.name
	codename string
	ct       *ref
	resolved *contentType
}

type group struct {
	obj
	perms []ref
}

type user struct {
	obj
	u             authn.User
	groups, perms []ref
}

// parser collects problems while it decodes.
type parser struct {
	problems []Problem
	// userModel is the model holding users ("auth.user" or the custom
	// user model); profile and columns map extra columns onto profile
	// fields (profile.go).
	userModel string
	profile   *profile.Schema
	columns   map[string]string // column -> profile field
	unmapped  map[string]int    // column -> users having it
}

func (p *parser) add(o *obj, field, format string, args ...any) {
	pr := Problem{Index: -1, Field: field, Message: fmt.Sprintf(format, args...)}
	if o != nil {
		pr.Index, pr.Model, pr.Name, pr.PK, pr.HasPK = o.index, o.model, o.name, o.pk, o.hasPK
		o.valid = false
	}
	p.problems = append(p.problems, pr)
}

// Parse reads the output of `manage.py dumpdata auth contenttypes`, with
// or without --natural-foreign/--natural-primary, validates it and
// resolves every reference. Objects may come in any order. On failure the
// error is an *Error listing every problem found.
func Parse(data []byte) (*Fixture, error) { return ParseWith(data, Options{}) }

// ParseWith is Parse for a project with a custom user model and profile
// fields (see Options).
func ParseWith(data []byte, o Options) (*Fixture, error) {
	p := &parser{}
	if err := p.setOptions(o); err != nil {
		return nil, err
	}
	fx := p.parse(data)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int { return a.Index - b.Index })
		return nil, &Error{Problems: p.problems}
	}
	p.profileReport(fx)
	return fx, nil
}

func (p *parser) parse(data []byte) *Fixture {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from an editor
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		line, col := position(data, off)
		p.add(nil, "", "not valid UTF-8 at line %d, column %d; dumpdata writes UTF-8", line, col)
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		p.add(nil, "", "empty file; want the JSON array `manage.py dumpdata auth contenttypes` writes")
		return nil
	}
	var items []json.RawMessage
	err := json.Unmarshal(data, &items)
	if err == nil && items == nil {
		p.add(nil, "", "want the JSON array of objects `manage.py dumpdata auth contenttypes` writes, got null")
		return nil
	}
	if err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, int(se.Offset)-1) // Offset is past the bad byte
			p.add(nil, "", "not valid JSON at line %d, column %d: %v", line, col, se)
		case errors.As(err, &te):
			p.add(nil, "", "want the JSON array of objects `manage.py dumpdata auth contenttypes` writes, got %s", describe(data))
		default:
			p.add(nil, "", "not valid JSON: %v", err)
		}
		return nil
	}

	var (
		cts    []*contentType
		perms  []*permission
		groups []*group
		users  []*user
	)
	for i, raw := range items {
		o, fields := p.object(i, raw)
		if o == nil {
			continue
		}
		switch o.model {
		case modelContentType:
			cts = append(cts, p.contentType(o, fields))
		case modelPermission:
			perms = append(perms, p.permission(o, fields))
		case modelGroup:
			groups = append(groups, p.group(o, fields))
		case p.userModel:
			users = append(users, p.user(o, fields))
		}
	}
	return p.resolve(cts, perms, groups, users)
}

// position turns a byte offset into a 1-based line and column (in
// characters).
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// describe renders a JSON value for a message: short values as they are,
// long ones cut.
func describe(raw []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		buf.Reset()
		buf.Write(bytes.TrimSpace(raw))
	}
	s := buf.String()
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:37]) + "…"
	}
	return s
}

// kind names a JSON value's type without showing it.
func kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// object decodes the envelope {"model", "pk", "fields"}.
func (p *parser) object(i int, raw json.RawMessage) (*obj, map[string]json.RawMessage) {
	o := &obj{index: i, valid: true}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil || env == nil {
		p.add(o, "", "want an object with \"model\", \"pk\" and \"fields\", got %s", describe(raw))
		return nil, nil
	}
	if m, ok := env["model"]; !ok {
		p.add(o, "", "no \"model\"")
		return nil, nil
	} else if json.Unmarshal(m, &o.model) != nil {
		p.add(o, "", "\"model\": want a string such as \"auth.user\", got %s", describe(m))
		return nil, nil
	}
	// Like Django's apps.get_model: the app label is exact, the model
	// name is not case-sensitive ("auth.User").
	if app, model, ok := strings.Cut(o.model, "."); ok {
		o.model = app + "." + strings.ToLower(model)
	}
	switch o.model {
	case modelContentType, modelPermission, modelGroup, p.userModel:
	case modelUser:
		p.add(o, "", "model %q is not the user model %q (--user-model): a project with a custom user model has no auth.user objects", o.model, p.userModel)
		return nil, nil
	default:
		p.add(o, "", "model %q is not imported: the file must hold only `manage.py dumpdata auth contenttypes %s` (%s, auth.group, auth.permission, contenttypes.contenttype)", o.model, p.userDump(), p.userModel)
		return nil, nil
	}
	var fields map[string]json.RawMessage
	f, hasFields := env["fields"]
	if hasFields && (json.Unmarshal(f, &fields) != nil || fields == nil) {
		fields = nil
	}
	// Name the object first, so that every message about it can.
	var name string
	switch o.model {
	case modelContentType:
		var app, model string
		if json.Unmarshal(fields["app_label"], &app) == nil && json.Unmarshal(fields["model"], &model) == nil {
			name = app + "." + model
		}
	case modelPermission:
		_ = json.Unmarshal(fields["codename"], &name)
	case modelGroup:
		_ = json.Unmarshal(fields["name"], &name)
	case p.userModel:
		_ = json.Unmarshal(fields["username"], &name)
	}
	o.name = name
	if pk, ok := env["pk"]; ok && string(bytes.TrimSpace(pk)) != "null" {
		n, err := strconv.ParseInt(string(bytes.TrimSpace(pk)), 10, 64)
		if err != nil {
			p.add(o, "", "\"pk\": want an integer, got %s", describe(pk))
		} else {
			o.pk, o.hasPK = n, true
		}
	}
	for _, k := range sortedKeys(env) {
		if k != "model" && k != "pk" && k != "fields" {
			p.add(o, "", "unknown key %q; want only \"model\", \"pk\" and \"fields\"", k)
		}
	}
	switch {
	case !hasFields:
		p.add(o, "", "no \"fields\"")
	case fields == nil:
		p.add(o, "", "\"fields\": want an object, got %s", describe(f))
	}
	if fields == nil {
		return nil, nil
	}
	return o, fields
}

// fieldSet checks for unknown fields and hands out known ones.
type fieldSet struct {
	p      *parser
	o      *obj
	fields map[string]json.RawMessage
}

func (p *parser) fieldsOf(o *obj, fields map[string]json.RawMessage, known ...string) fieldSet {
	for _, k := range sortedKeys(fields) {
		if !slices.Contains(known, k) {
			p.add(o, k, "unknown field; %s has %s", o.model, strings.Join(known, ", "))
		}
	}
	return fieldSet{p: p, o: o, fields: fields}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// str reads a string field. A missing one is a problem when required,
// else def. secret fields never show their value. Lengths are not
// checked beyond the store's own rules: Django's max_length is not
// enforced by every database, and the store has no such limits.
func (f fieldSet) str(name string, required bool, def string, secret bool) string {
	raw, ok := f.fields[name]
	if !ok {
		if required {
			f.p.add(f.o, name, "missing")
		}
		return def
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(bytes.TrimSpace(raw)) == "null" {
		got := describe(raw)
		if secret {
			got = kind(raw)
		}
		f.p.add(f.o, name, "want a string, got %s", got)
		return def
	}
	return s
}

func (f fieldSet) bool(name string, def bool) bool {
	raw, ok := f.fields[name]
	if !ok {
		return def
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true
	case "false":
		return false
	}
	f.p.add(f.o, name, "want true or false, got %s", describe(raw))
	return def
}

// timeLayouts are what DjangoJSONEncoder writes (ISO 8601, milliseconds,
// "Z" for UTC; no offset when USE_TZ = False) and what loaddata reads.
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// time reads a date and time; naive ones (USE_TZ = False) are taken as
// UTC. A missing or null value is zero when nullable.
func (f fieldSet) time(name string, nullable bool) time.Time {
	raw, ok := f.fields[name]
	want := `want a date and time such as "2024-01-15T09:30:00.123Z"`
	if nullable {
		want += " or null"
	}
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		if !nullable {
			if !ok {
				f.p.add(f.o, name, "missing")
			} else {
				f.p.add(f.o, name, "%s, got null", want)
			}
		}
		return time.Time{}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC()
			}
		}
	}
	f.p.add(f.o, name, "%s, got %s", want, describe(raw))
	return time.Time{}
}

// ref reads a reference: a pk or a natural key of arity n.
func (f fieldSet) ref(name string, item int, raw json.RawMessage, naturalShape string, n int) (ref, bool) {
	r := ref{item: item}
	trimmed := bytes.TrimSpace(raw)
	where := ""
	if item >= 0 {
		where = fmt.Sprintf("item %d: ", item)
	}
	if pk, err := strconv.ParseInt(string(trimmed), 10, 64); err == nil {
		r.pk = pk
		return r, true
	}
	var key []string
	if json.Unmarshal(raw, &key) == nil && key != nil && len(key) == n {
		r.natural = key
		return r, true
	}
	f.p.add(f.o, name, "%swant a pk (integer) or a natural key %s, got %s", where, naturalShape, describe(raw))
	return r, false
}

// refs reads a list of references; a missing list is empty.
func (f fieldSet) refs(name, naturalShape string, n int) []ref {
	raw, ok := f.fields[name]
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		f.p.add(f.o, name, "want a list, got %s", describe(raw))
		return nil
	}
	var out []ref
	for i, it := range items {
		if r, ok := f.ref(name, i, it, naturalShape, n); ok {
			out = append(out, r)
		}
	}
	return out
}

func (p *parser) contentType(o *obj, fields map[string]json.RawMessage) *contentType {
	ct := &contentType{obj: *o}
	f := p.fieldsOf(&ct.obj, fields, "app_label", "model")
	ct.app = f.str("app_label", true, "", false)
	ct.model = f.str("model", true, "", false)
	if ct.valid {
		if _, err := authn.NewModel(authn.ModelSpec{Label: ct.app + "." + ct.model, DefaultPermissions: []string{}}); err != nil {
			field := "model"
			if !validAppLabel(ct.app) {
				field = "app_label"
			}
			p.add(&ct.obj, field, "%v", err)
		}
	}
	return ct
}

// validAppLabel is the store's rule for the app_label half of a
// permission name.
func validAppLabel(app string) bool {
	return authn.ValidatePermission(app+".x") == nil
}

func (p *parser) permission(o *obj, fields map[string]json.RawMessage) *permission {
	pm := &permission{obj: *o}
	f := p.fieldsOf(&pm.obj, fields, "name", "content_type", "codename")
	pm.display = f.str("name", true, "", false)
	pm.codename = f.str("codename", true, "", false)
	if raw, ok := fields["content_type"]; !ok {
		p.add(&pm.obj, "content_type", "missing")
	} else if r, ok := f.ref("content_type", -1, raw, `["app_label", "model"]`, 2); ok {
		pm.ct = &r
	}
	return pm
}

func (p *parser) group(o *obj, fields map[string]json.RawMessage) *group {
	g := &group{obj: *o}
	f := p.fieldsOf(&g.obj, fields, "name", "permissions")
	if name := f.str("name", true, "", false); g.valid || name != "" {
		if err := authn.ValidateGroupName(name); err != nil {
			p.add(&g.obj, "name", "%v", err)
		}
	}
	g.perms = f.refs("permissions", `["codename", "app_label", "model"]`, 3)
	return g
}

// userFields are auth.User's fields as dumpdata writes them.
var userFields = []string{"password", "last_login", "is_superuser", "username", "first_name", "last_name",
	"email", "is_staff", "is_active", "date_joined", "groups", "user_permissions"}

func (p *parser) user(o *obj, fields map[string]json.RawMessage) *user {
	us := &user{obj: *o}
	builtin := fields
	if p.userModel != modelUser {
		// A custom user model: its extra columns go to profile fields.
		builtin = p.profileColumns(&us.obj, &us.u, fields)
	}
	f := p.fieldsOf(&us.obj, builtin, userFields...)
	u := &us.u
	if _, ok := fields["username"]; !ok {
		p.add(&us.obj, "username", "missing")
	} else if name := f.str("username", true, "", false); name != "" || us.valid {
		if err := authn.ValidateUsername(name); err != nil {
			p.add(&us.obj, "username", "%v", err)
		} else if n := authn.NormalizeUsername(name); n != name {
			p.add(&us.obj, "username", "not in Unicode NFKC form, which Django's login form and the gateway normalize every username to, so nobody could log in as it; rename it to %q in Django first", n)
		}
		u.Username = name
	}
	// Django's model defaults for what a hand-written fixture may leave
	// out; username, password and date_joined have none.
	u.Password = f.str("password", true, "", true)
	u.FirstName = f.str("first_name", false, "", false)
	u.LastName = f.str("last_name", false, "", false)
	u.Email = f.str("email", false, "", false)
	u.IsActive = f.bool("is_active", true)
	u.IsStaff = f.bool("is_staff", false)
	u.IsSuperuser = f.bool("is_superuser", false)
	u.DateJoined = f.time("date_joined", false)
	u.LastLogin = f.time("last_login", true)
	us.groups = f.refs("groups", `["name"]`, 1)
	us.perms = f.refs("user_permissions", `["codename", "app_label", "model"]`, 3)
	return us
}

// resolve indexes the objects by pk and natural key, reports duplicates
// and dangling references, and builds the Fixture.
func (p *parser) resolve(cts []*contentType, perms []*permission, groups []*group, users []*user) *Fixture {
	// Content types.
	ctByPK := map[int64]*contentType{}
	ctByKey := map[[2]string]*contentType{}
	pkSeen := func(o *obj, seen map[int64]int) {
		if !o.hasPK {
			return
		}
		if first, dup := seen[o.pk]; dup {
			p.add(o, "", "pk %d is also the pk of object %d", o.pk, first)
			return
		}
		seen[o.pk] = o.index
	}
	seen := map[int64]int{}
	for _, ct := range cts {
		pkSeen(&ct.obj, seen)
		if ct.hasPK {
			if _, dup := ctByPK[ct.pk]; !dup {
				ctByPK[ct.pk] = ct
			}
		}
		key := [2]string{ct.app, ct.model}
		if first, dup := ctByKey[key]; dup && ct.app != "" {
			p.add(&ct.obj, "model", "content type %s.%s is also object %d", ct.app, ct.model, first.index)
			continue
		}
		ctByKey[key] = ct
	}

	// Permissions.
	permByPK := map[int64]*permission{}
	permByKey := map[[3]string]*permission{}
	seen = map[int64]int{}
	for _, pm := range perms {
		pkSeen(&pm.obj, seen)
		if pm.hasPK {
			if _, dup := permByPK[pm.pk]; !dup {
				permByPK[pm.pk] = pm
			}
		}
		if pm.ct == nil {
			continue
		}
		var ct *contentType
		if pm.ct.natural == nil {
			if ct = ctByPK[pm.ct.pk]; ct == nil {
				p.add(&pm.obj, "content_type", "no contenttypes.contenttype with pk %d in the fixture", pm.ct.pk)
				continue
			}
		} else if ct = ctByKey[[2]string{pm.ct.natural[0], pm.ct.natural[1]}]; ct == nil {
			p.add(&pm.obj, "content_type", "no contenttypes.contenttype %s in the fixture", naturalKey(pm.ct.natural))
			continue
		}
		pm.resolved = ct
		if !ct.valid {
			continue // its own problem is reported
		}
		if pm.codename != "" || pm.valid {
			if err := authn.ValidatePermission(ct.app + "." + pm.codename); err != nil {
				p.add(&pm.obj, "codename", "%v", err)
			}
		}
		key := [3]string{pm.codename, ct.app, ct.model}
		if first, dup := permByKey[key]; dup {
			p.add(&pm.obj, "codename", "%q is also the codename of object %d, for the same content type %s.%s", pm.codename, first.index, ct.app, ct.model)
			continue
		}
		permByKey[key] = pm
	}
	// permRef resolves a permission reference to "app_label.codename"; ""
	// when it does not resolve (reported) or resolves to an object with
	// its own problem.
	permRef := func(o *obj, field string, r ref) string {
		var pm *permission
		if r.natural == nil {
			if pm = permByPK[r.pk]; pm == nil {
				p.add(o, field, "item %d: no auth.permission with pk %d in the fixture", r.item, r.pk)
				return ""
			}
		} else if pm = permByKey[[3]string{r.natural[0], r.natural[1], r.natural[2]}]; pm == nil {
			p.add(o, field, "item %d: no auth.permission %s in the fixture", r.item, naturalKey(r.natural))
			return ""
		}
		if !pm.valid || pm.resolved == nil || !pm.resolved.valid {
			return ""
		}
		return pm.resolved.app + "." + pm.codename
	}

	// Groups.
	groupByPK := map[int64]*group{}
	groupByName := map[string]*group{}
	seen = map[int64]int{}
	fx := &Fixture{}
	for _, g := range groups {
		pkSeen(&g.obj, seen)
		if g.hasPK {
			if _, dup := groupByPK[g.pk]; !dup {
				groupByPK[g.pk] = g
			}
		}
		if first, dup := groupByName[g.name]; dup {
			p.add(&g.obj, "name", "%q is also the name of object %d", g.name, first.index)
			continue
		}
		groupByName[g.name] = g
		ig := authn.ImportGroup{Name: g.name, Permissions: []string{}}
		for _, r := range g.perms {
			if name := permRef(&g.obj, "permissions", r); name != "" {
				ig.Permissions = append(ig.Permissions, name)
			}
		}
		ig.Permissions = sortedUnique(ig.Permissions)
		fx.Groups = append(fx.Groups, ig)
	}

	// Users.
	userByName := map[string]*user{}
	seen = map[int64]int{}
	for _, us := range users {
		pkSeen(&us.obj, seen)
		if first, dup := userByName[us.u.Username]; dup && us.u.Username != "" {
			p.add(&us.obj, "username", "%q is also the username of object %d", us.u.Username, first.index)
			continue
		}
		userByName[us.u.Username] = us
		iu := authn.ImportUser{User: us.u, Groups: []string{}, Permissions: []string{}}
		for _, r := range us.groups {
			var g *group
			if r.natural == nil {
				if g = groupByPK[r.pk]; g == nil {
					p.add(&us.obj, "groups", "item %d: no auth.group with pk %d in the fixture", r.item, r.pk)
					continue
				}
			} else if g = groupByName[r.natural[0]]; g == nil {
				p.add(&us.obj, "groups", "item %d: no auth.group %s in the fixture", r.item, naturalKey(r.natural))
				continue
			}
			iu.Groups = append(iu.Groups, g.name)
		}
		for _, r := range us.perms {
			if name := permRef(&us.obj, "user_permissions", r); name != "" {
				iu.Permissions = append(iu.Permissions, name)
			}
		}
		iu.Groups = sortedUnique(iu.Groups)
		iu.Permissions = sortedUnique(iu.Permissions)
		fx.Users = append(fx.Users, iu)
	}

	// Models: every content type with its permissions.
	byCT := map[*contentType][]authn.Permission{}
	for _, pm := range perms {
		if pm.resolved != nil {
			byCT[pm.resolved] = append(byCT[pm.resolved], authn.Permission{Codename: pm.codename, Name: pm.display})
		}
	}
	for _, ct := range cts {
		if ctByKey[[2]string{ct.app, ct.model}] != ct {
			continue // a duplicate
		}
		m := authn.Model{AppLabel: ct.app, Name: ct.model, Permissions: byCT[ct]}
		if m.Permissions == nil {
			m.Permissions = []authn.Permission{}
		}
		slices.SortFunc(m.Permissions, func(a, b authn.Permission) int { return strings.Compare(a.Codename, b.Codename) })
		fx.Models = append(fx.Models, m)
	}
	slices.SortFunc(fx.Models, func(a, b authn.Model) int { return strings.Compare(a.Label(), b.Label()) })
	slices.SortFunc(fx.Groups, func(a, b authn.ImportGroup) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(fx.Users, func(a, b authn.ImportUser) int { return strings.Compare(a.User.Username, b.User.Username) })
	return fx
}

func naturalKey(key []string) string {
	raw, _ := json.Marshal(key)
	return strings.ReplaceAll(string(raw), `","`, `", "`)
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
