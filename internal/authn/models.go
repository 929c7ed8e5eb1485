package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrPermissionNotDeclared reports a grant of a permission no declared
// model provides. Like Django, where a Permission row must exist before it
// can be granted, a permission must be declared (by a model in the policy
// data, by the built-in auth models, or by an import from Django) first.
var ErrPermissionNotDeclared = errors.New("permission is not declared")

// DefaultPermissionActions are Django's Meta.default_permissions.
var DefaultPermissionActions = []string{"add", "change", "delete", "view"}

var (
	modelNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	actionRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// Model is a declared model: Django's content type (app_label, model) and
// the permissions it provides.
type Model struct {
	// AppLabel and Name form the label "app_label.model" (Name is the
	// lower-case model name, ContentType.model).
	AppLabel string `json:"app_label"`
	Name     string `json:"model"`
	// Permissions are the model's permissions: its default ones
	// (add_<model>, ...) and its custom ones, sorted by codename.
	Permissions []Permission `json:"permissions"`
}

// Permission is one of a model's permissions (Django's Permission row).
type Permission struct {
	Codename string `json:"codename"` // "change_post"
	Name     string `json:"name"`     // "Can change post"
}

// Label is "app_label.model".
func (m Model) Label() string { return m.AppLabel + "." + m.Name }

// PermissionNames are the model's permissions as "app_label.codename".
func (m Model) PermissionNames() []string {
	out := make([]string, len(m.Permissions))
	for i, p := range m.Permissions {
		out[i] = m.AppLabel + "." + p.Codename
	}
	return out
}

// ModelSpec declares a model the way a Django model's Meta does.
type ModelSpec struct {
	// Label is "app_label.model".
	Label string
	// VerboseName names the model in default permission names ("Can add
	// <verbose_name>"); the model name when empty.
	VerboseName string
	// DefaultPermissions are the actions of the default permissions;
	// nil means DefaultPermissionActions, an empty non-nil slice none.
	DefaultPermissions []string
	// Permissions are custom permissions: codename -> human-readable name.
	Permissions map[string]string
}

// NewModel builds a Model from spec, validating every name.
func NewModel(spec ModelSpec) (Model, error) {
	app, name, ok := strings.Cut(spec.Label, ".")
	if !ok || !appLabelRE.MatchString(app) || !modelNameRE.MatchString(name) {
		return Model{}, fmt.Errorf("model %q: want \"app_label.model\" in lower case, e.g. \"blog.post\"", spec.Label)
	}
	m := Model{AppLabel: app, Name: name}
	verbose := spec.VerboseName
	if verbose == "" {
		verbose = name
	}
	actions := spec.DefaultPermissions
	if actions == nil {
		actions = DefaultPermissionActions
	}
	seen := map[string]bool{}
	add := func(codename, human string) error {
		if seen[codename] {
			return fmt.Errorf("model %q: permission %q declared twice", spec.Label, codename)
		}
		if err := ValidatePermission(app + "." + codename); err != nil {
			return fmt.Errorf("model %q: %w", spec.Label, err)
		}
		seen[codename] = true
		m.Permissions = append(m.Permissions, Permission{Codename: codename, Name: human})
		return nil
	}
	for _, a := range actions {
		if !actionRE.MatchString(a) {
			return Model{}, fmt.Errorf("model %q: default permission action %q must match ^[a-z_][a-z0-9_]*$ (add, change, delete, view)", spec.Label, a)
		}
		if err := add(a+"_"+name, "Can "+a+" "+verbose); err != nil {
			return Model{}, err
		}
	}
	for codename, human := range spec.Permissions {
		if strings.TrimSpace(human) == "" {
			return Model{}, fmt.Errorf("model %q: permission %q needs a human-readable name", spec.Label, codename)
		}
		if err := add(codename, human); err != nil {
			return Model{}, err
		}
	}
	slices.SortFunc(m.Permissions, func(a, b Permission) int { return strings.Compare(a.Codename, b.Codename) })
	return m, nil
}

// BuiltinModels are the models of Django's auth and contenttypes apps,
// always declared: their permissions (auth.add_user, auth.change_user,
// auth.view_group, ...) cover the gateway's own user management.
func BuiltinModels() []Model {
	specs := []ModelSpec{
		{Label: "auth.permission"},
		{Label: "auth.group"},
		{Label: "auth.user"},
		{Label: "contenttypes.contenttype", VerboseName: "content type"},
	}
	out := make([]Model, len(specs))
	for i, s := range specs {
		m, err := NewModel(s)
		if err != nil {
			panic(err) // constant input
		}
		out[i] = m
	}
	return out
}

func (s *Store) modelsKey() string { return s.base + "models" }

// MergeModels is the record of a model declared as old and declared again
// as m: the union of their permissions. Declarations only add, so the
// policy data and a Django import can declare the same model without
// undoing each other; a permission keeps the name it was first declared
// with.
func MergeModels(old, m Model) Model {
	out := Model{AppLabel: m.AppLabel, Name: m.Name, Permissions: slices.Clone(old.Permissions)}
	for _, p := range m.Permissions {
		if !slices.ContainsFunc(out.Permissions, func(q Permission) bool { return q.Codename == p.Codename }) {
			out.Permissions = append(out.Permissions, p)
		}
	}
	slices.SortFunc(out.Permissions, func(a, b Permission) int { return strings.Compare(a.Codename, b.Codename) })
	return out
}

// DeclareModels records models and makes their permissions known, as
// Django's migrations create ContentType and Permission rows. It is
// additive and idempotent: a model declared again is merged with its
// record (MergeModels), and nothing is ever removed, so grants survive a
// model leaving the policy data. Everything is validated before anything
// is written, and the write is one transaction (retried if a concurrent
// declaration or import changed the records in between).
func (s *Store) DeclareModels(ctx context.Context, models ...Model) error {
	if len(models) == 0 {
		return nil
	}
	labels := make([]string, 0, len(models))
	var perms []any
	for _, m := range models {
		if _, err := NewModel(ModelSpec{Label: m.Label(), DefaultPermissions: []string{}}); err != nil {
			return fmt.Errorf("declare models: %w", err)
		}
		for _, p := range m.PermissionNames() {
			if err := ValidatePermission(p); err != nil {
				return fmt.Errorf("declare models: model %q: %w", m.Label(), err)
			}
			perms = append(perms, p)
		}
		labels = append(labels, m.Label())
	}
	key := s.modelsKey()
	declare := func(tx *redis.Tx) error {
		stored, err := tx.HMGet(ctx, key, labels...).Result()
		if err != nil {
			return err
		}
		var fields []any
		for i, m := range models {
			merged := m
			if raw, ok := stored[i].(string); ok {
				old, err := decodeModel(m.Label(), raw)
				if err != nil {
					return corrupt("declare models", fmt.Sprintf("model %q", m.Label()))
				}
				merged = MergeModels(old, m)
				if SameModel(old, merged) {
					continue
				}
			}
			enc, err := encodeModel(merged)
			if err != nil {
				return err
			}
			fields = append(fields, m.Label(), enc)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(fields) > 0 {
				p.HSet(ctx, key, fields...)
			}
			p.SAdd(ctx, s.permsKey(), perms...)
			// An active superuser holds every declared permission.
			p.Publish(ctx, ChangesChannel(s.base), "*")
			return nil
		})
		return err
	}
	for range 5 {
		err := s.rdb.Watch(ctx, declare, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		if err != nil {
			return storeError("declare models", err)
		}
		return nil
	}
	return storeError("declare models", errors.New("the models changed concurrently 5 times; try again"))
}

// Models returns the declared models, sorted by label.
func (s *Store) Models(ctx context.Context) ([]Model, error) {
	raw, err := s.rdb.HGetAll(ctx, s.modelsKey()).Result()
	if err != nil {
		return nil, storeError("models", err)
	}
	out := make([]Model, 0, len(raw))
	for label, v := range raw {
		var m Model
		if err := json.Unmarshal([]byte(v), &m); err != nil || m.Label() != label {
			return nil, corrupt("models", fmt.Sprintf("model %q", label))
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Label(), b.Label()) })
	return out, nil
}

// undeclared explains ErrPermissionNotDeclared for perm: which permissions
// its app does declare, and how to declare more. Best effort: it is only
// called on the error path.
func (s *Store) undeclared(ctx context.Context, perm string) error {
	app, _, _ := strings.Cut(perm, ".")
	known, err := s.KnownPermissions(ctx)
	var same []string
	if err == nil {
		for _, k := range known {
			if strings.HasPrefix(k, app+".") {
				same = append(same, k)
			}
		}
	}
	hint := fmt.Sprintf("app %q declares no permissions", app)
	if len(same) > 0 {
		hint = fmt.Sprintf("app %q declares %s", app, strings.Join(same, ", "))
	}
	return fmt.Errorf("%w: %q (%s); declare its model in the policy data (gateway.models) or import it with `gateway import-django`",
		ErrPermissionNotDeclared, perm, hint)
}
