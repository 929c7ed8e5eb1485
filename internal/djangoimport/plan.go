package djangoimport

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// Changes is what an import changes in the store, or would change (dry
// run). Every list is sorted.
type Changes struct {
	// ModelsDeclared are models the store did not have.
	ModelsDeclared []ModelChange
	// ModelsChanged are declared models whose record differs; their
	// removed permissions stay known, as with DeclareModels.
	ModelsChanged []ModelChange
	// PermissionsAdded are permissions that become known.
	PermissionsAdded []string
	// GroupsCreated and GroupsChanged list the permissions granted and
	// revoked.
	GroupsCreated []GroupChange
	GroupsChanged []GroupChange
	// UsersCreated and UsersUpdated list fields set, memberships and
	// direct permissions.
	UsersCreated []UserChange
	UsersUpdated []UserChange
}

// ModelChange is a model declared or re-declared.
type ModelChange struct {
	Label string
	// Added and Removed are codenames; Renamed are codenames whose
	// human-readable name changed.
	Added, Removed, Renamed []string
}

// GroupChange is a group created or changed.
type GroupChange struct {
	Name             string
	Granted, Revoked []string
}

// UserChange is a user created or updated.
type UserChange struct {
	Username string
	// ID is the user's id: the existing one, or the new one once
	// created (zero in a dry run).
	ID int64
	// User is the user's new state (for a created user's summary).
	User authn.User
	// Fields are the fields that change (all set fields for a new user
	// are not listed).
	Fields           []FieldChange
	Joined, Left     []string
	Granted, Revoked []string
}

// FieldChange is one changed user field. The password's values are
// never kept.
type FieldChange struct {
	Name     string
	Old, New string // display values; empty for the password
}

// Empty reports whether there is nothing to change.
func (c *Changes) Empty() bool {
	return len(c.ModelsDeclared)+len(c.ModelsChanged)+len(c.PermissionsAdded)+len(c.GroupsCreated)+
		len(c.GroupsChanged)+len(c.UsersCreated)+len(c.UsersUpdated) == 0
}

// Plan compares the fixture with the store's current state (read by
// Store.ReadImportState for fx.Set()) and returns what importing it
// changes. It is pure: it reads and writes nothing.
func Plan(fx *Fixture, st *authn.ImportState) *Changes {
	c := &Changes{}
	for _, m := range fx.Models {
		old, had := st.Models[m.Label()]
		switch {
		case !had:
			mc := ModelChange{Label: m.Label()}
			for _, p := range m.Permissions {
				mc.Added = append(mc.Added, p.Codename)
			}
			c.ModelsDeclared = append(c.ModelsDeclared, mc)
		case !authn.SameModel(old, authn.MergeModels(old, m)):
			// Declarations only add: the record becomes the union.
			c.ModelsChanged = append(c.ModelsChanged, diffModel(old, authn.MergeModels(old, m)))
		}
	}
	for _, perm := range fx.Set().Permissions() {
		if !st.Known[perm] {
			c.PermissionsAdded = append(c.PermissionsAdded, perm)
		}
	}
	for _, g := range fx.Groups {
		old := st.Groups[g.Name]
		gc := GroupChange{Name: g.Name}
		gc.Granted, gc.Revoked = diffSets(old.Permissions, g.Permissions)
		switch {
		case !old.Exists:
			c.GroupsCreated = append(c.GroupsCreated, gc)
		case len(gc.Granted)+len(gc.Revoked) > 0:
			c.GroupsChanged = append(c.GroupsChanged, gc)
		}
	}
	for _, iu := range fx.Users {
		uc := UserChange{Username: iu.User.Username, User: iu.User}
		old, had := st.Users[iu.User.Username]
		if !had {
			uc.Joined, uc.Granted = iu.Groups, iu.Permissions
			c.UsersCreated = append(c.UsersCreated, uc)
			continue
		}
		uc.ID = old.User.ID
		uc.User.ID = old.User.ID
		uc.Fields = diffUser(old.User, &iu.User)
		uc.Joined, uc.Left = diffSets(old.Groups, iu.Groups)
		uc.Granted, uc.Revoked = diffSets(old.Permissions, iu.Permissions)
		if len(uc.Fields)+len(uc.Joined)+len(uc.Left)+len(uc.Granted)+len(uc.Revoked) > 0 {
			c.UsersUpdated = append(c.UsersUpdated, uc)
		}
	}
	return c
}

func diffModel(old, m authn.Model) ModelChange {
	mc := ModelChange{Label: m.Label()}
	names := map[string]string{}
	for _, p := range old.Permissions {
		names[p.Codename] = p.Name
	}
	seen := map[string]bool{}
	for _, p := range m.Permissions {
		seen[p.Codename] = true
		switch n, ok := names[p.Codename]; {
		case !ok:
			mc.Added = append(mc.Added, p.Codename)
		case n != p.Name:
			mc.Renamed = append(mc.Renamed, p.Codename)
		}
	}
	for _, p := range old.Permissions {
		if !seen[p.Codename] {
			mc.Removed = append(mc.Removed, p.Codename)
		}
	}
	slices.Sort(mc.Removed)
	return mc
}

// diffSets returns what want adds to and removes from have (both sorted).
func diffSets(have, want []string) (added, removed []string) {
	for _, w := range want {
		if _, found := slices.BinarySearch(have, w); !found {
			added = append(added, w)
		}
	}
	for _, h := range have {
		if _, found := slices.BinarySearch(want, h); !found {
			removed = append(removed, h)
		}
	}
	return added, removed
}

func diffUser(old, u *authn.User) []FieldChange {
	var out []FieldChange
	str := func(name, a, b string) {
		if a != b {
			out = append(out, FieldChange{Name: name, Old: strconv.Quote(a), New: strconv.Quote(b)})
		}
	}
	flag := func(name string, a, b bool) {
		if a != b {
			out = append(out, FieldChange{Name: name, Old: strconv.FormatBool(a), New: strconv.FormatBool(b)})
		}
	}
	when := func(name string, a, b time.Time) {
		if !a.Equal(b) {
			out = append(out, FieldChange{Name: name, Old: showTime(a), New: showTime(b)})
		}
	}
	if old.Password != u.Password {
		out = append(out, FieldChange{Name: "password"})
	}
	str("email", old.Email, u.Email)
	str("first_name", old.FirstName, u.FirstName)
	str("last_name", old.LastName, u.LastName)
	flag("is_active", old.IsActive, u.IsActive)
	flag("is_staff", old.IsStaff, u.IsStaff)
	flag("is_superuser", old.IsSuperuser, u.IsSuperuser)
	when("date_joined", old.DateJoined, u.DateJoined)
	when("last_login", old.LastLogin, u.LastLogin)
	out = append(out, diffProfile(old.Profile, u.Profile)...)
	return out
}

// diffProfile lists the profile fields whose stored form differs, as
// "profile.<name>" changes; a value absent on one side shows as null.
func diffProfile(old, u profile.Values) []FieldChange {
	names := make([]string, 0, len(old)+len(u))
	for k := range old {
		names = append(names, k)
	}
	for k := range u {
		if _, ok := old[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	show := func(v profile.Values, name string) (string, string) {
		x, ok := v[name]
		if !ok {
			return "", "null"
		}
		enc, err := profile.Encode(profile.Values{name: x})
		if err != nil {
			return "?", "?"
		}
		return enc, strconv.Quote(profile.FormatText(x))
	}
	var out []FieldChange
	for _, name := range names {
		encA, a := show(old, name)
		encB, b := show(u, name)
		if encA != encB {
			out = append(out, FieldChange{Name: "profile." + name, Old: a, New: b})
		}
	}
	return out
}

func showTime(t time.Time) string {
	if t.IsZero() {
		return "null"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Write prints the changes, one per line, then a summary. dryRun words it
// as what would happen. Password hashes are never printed.
func (c *Changes) Write(w io.Writer, dryRun bool) {
	for _, m := range c.ModelsDeclared {
		fmt.Fprintf(w, "declare model   %s: %s\n", m.Label, listOrNone(m.Added, "no permissions"))
	}
	for _, m := range c.ModelsChanged {
		var parts []string
		parts = append(parts, signed("+", m.Added)...)
		parts = append(parts, signed("-", m.Removed)...)
		for _, r := range m.Renamed {
			parts = append(parts, "renamed "+r)
		}
		fmt.Fprintf(w, "change model    %s: %s\n", m.Label, strings.Join(parts, " "))
	}
	for _, p := range c.PermissionsAdded {
		fmt.Fprintf(w, "add permission  %s\n", p)
	}
	for _, g := range c.GroupsCreated {
		fmt.Fprintf(w, "create group    %s: %s\n", strconv.Quote(g.Name), listOrNone(signed("+", g.Granted), "no permissions"))
	}
	for _, g := range c.GroupsChanged {
		fmt.Fprintf(w, "change group    %s: %s\n", strconv.Quote(g.Name), strings.Join(append(signed("+", g.Granted), signed("-", g.Revoked)...), " "))
	}
	for _, u := range c.UsersCreated {
		var parts []string
		parts = append(parts, userFlags(&u.User))
		if len(u.Joined) > 0 {
			parts = append(parts, "groups "+strings.Join(quoted(u.Joined), " "))
		}
		if len(u.Granted) > 0 {
			parts = append(parts, "permissions "+strings.Join(u.Granted, " "))
		}
		id := ""
		if u.ID != 0 {
			id = fmt.Sprintf(" (id %d)", u.ID)
		}
		fmt.Fprintf(w, "create user     %s%s: %s\n", strconv.Quote(u.Username), id, strings.Join(parts, "; "))
	}
	for _, u := range c.UsersUpdated {
		var parts []string
		var fields []string
		for _, f := range u.Fields {
			if f.Name == "password" {
				fields = append(fields, "password (hash replaced)")
				continue
			}
			fields = append(fields, fmt.Sprintf("%s %s -> %s", f.Name, f.Old, f.New))
		}
		if len(fields) > 0 {
			parts = append(parts, strings.Join(fields, ", "))
		}
		if g := append(signed("+", quoted(u.Joined)), signed("-", quoted(u.Left))...); len(g) > 0 {
			parts = append(parts, "groups "+strings.Join(g, " "))
		}
		if p := append(signed("+", u.Granted), signed("-", u.Revoked)...); len(p) > 0 {
			parts = append(parts, "permissions "+strings.Join(p, " "))
		}
		fmt.Fprintf(w, "update user     %s (id %d): %s\n", strconv.Quote(u.Username), u.ID, strings.Join(parts, "; "))
	}
	if c.Empty() {
		fmt.Fprintln(w, "Nothing to change: the store already matches the fixture.")
		return
	}
	verbs := [][2]string{{"declared", "declare"}, {"added", "add"}, {"created", "create"}, {"changed", "change"}, {"created", "create"}, {"updated", "update"}}
	counts := []string{
		count(len(c.ModelsDeclared)+len(c.ModelsChanged), "model", "models"),
		count(len(c.PermissionsAdded), "permission", "permissions"),
		count(len(c.GroupsCreated), "group", "groups"),
		count(len(c.GroupsChanged), "group", "groups"),
		count(len(c.UsersCreated), "user", "users"),
		count(len(c.UsersUpdated), "user", "users"),
	}
	parts := make([]string, len(counts))
	for i, n := range counts {
		verb := verbs[i][0]
		if dryRun {
			verb = verbs[i][1]
		}
		parts[i] = verb + " " + n
	}
	if dryRun {
		fmt.Fprintf(w, "Dry run, nothing was written: would %s.\n", strings.Join(parts, ", "))
		return
	}
	fmt.Fprintf(w, "Imported: %s.\n", strings.Join(parts, ", "))
}

func userFlags(u *authn.User) string {
	var f []string
	if u.IsActive {
		f = append(f, "active")
	} else {
		f = append(f, "inactive")
	}
	if u.IsStaff {
		f = append(f, "staff")
	}
	if u.IsSuperuser {
		f = append(f, "superuser")
	}
	if !authn.IsUsable(u.Password) {
		f = append(f, "unusable password")
	}
	return strings.Join(f, ", ")
}

func signed(sign string, l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = sign + s
	}
	return out
}

func quoted(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strconv.Quote(s)
	}
	return out
}

func listOrNone(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, " ")
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
