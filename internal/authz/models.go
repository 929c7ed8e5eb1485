package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/djangate/gateway/internal/authn"
)

// ModelsPath is where the policy data declares models:
// data.gateway.models, an object keyed by "app_label.model":
//
//	gateway:
//	  models:
//	    blog.post:
//	      verbose_name: blog post          # optional; "Can add blog post"
//	      default_permissions: [add, change, delete, view]   # optional
//	      permissions:                     # optional custom permissions
//	        can_publish: Can publish posts
var ModelsPath = storage.Path{"gateway", "models"}

// Models are the models declared in the policy in force (data.gateway.models),
// sorted by label. The built-in auth models are not among them (see
// authn.BuiltinModels).
func (e *Engine) Models() []authn.Model { return slices.Clone(e.current.Load().models) }

// readModels reads and validates data.gateway.models from store. Every
// problem is reported, each naming the key path.
func readModels(ctx context.Context, store storage.Store) ([]authn.Model, error) {
	v, err := storage.ReadOne(ctx, store, ModelsPath)
	if storage.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("data.gateway.models: must be a mapping of \"app_label.model\" to its declaration, got %v", v)
	}
	var (
		models []authn.Model
		errs   []error
	)
	obj.Foreach(func(k, d *ast.Term) {
		label, ok := k.Value.(ast.String)
		where := fmt.Sprintf("data.gateway.models[%v]", k)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: model names must be strings", where))
			return
		}
		spec, err := modelSpec(string(label), d.Value, where)
		if err != nil {
			errs = append(errs, err)
			return
		}
		m, err := authn.NewModel(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		models = append(models, m)
	})
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(models, func(a, b authn.Model) int { return strings.Compare(a.Label(), b.Label()) })
	return models, nil
}

func modelSpec(label string, v ast.Value, where string) (authn.ModelSpec, error) {
	spec := authn.ModelSpec{Label: label}
	if _, isNull := v.(ast.Null); isNull {
		return spec, nil // `blog.post:` with nothing under it
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return spec, fmt.Errorf("%s: must be a mapping (verbose_name, default_permissions, permissions) or empty, got %v", where, v)
	}
	var err error
	obj.Foreach(func(k, x *ast.Term) {
		if err != nil {
			return
		}
		key, _ := k.Value.(ast.String)
		at := fmt.Sprintf("%s.%v", where, k)
		switch key {
		case "verbose_name":
			s, ok := x.Value.(ast.String)
			if !ok || strings.TrimSpace(string(s)) == "" {
				err = fmt.Errorf("%s: must be a non-empty string, got %v", at, x)
				return
			}
			spec.VerboseName = string(s)
		case "default_permissions":
			arr, ok := x.Value.(*ast.Array)
			if !ok {
				err = fmt.Errorf("%s: must be a list of actions such as [add, change, delete, view] (or [] for none), got %v", at, x)
				return
			}
			spec.DefaultPermissions = []string{}
			arr.Foreach(func(a *ast.Term) {
				s, ok := a.Value.(ast.String)
				if !ok && err == nil {
					err = fmt.Errorf("%s: actions must be strings, got %v", at, a)
				}
				spec.DefaultPermissions = append(spec.DefaultPermissions, string(s))
			})
		case "permissions":
			perms, ok := x.Value.(ast.Object)
			if !ok {
				err = fmt.Errorf("%s: must be a mapping of codename to a human-readable name, got %v", at, x)
				return
			}
			spec.Permissions = map[string]string{}
			perms.Foreach(func(c, n *ast.Term) {
				code, ok1 := c.Value.(ast.String)
				name, ok2 := n.Value.(ast.String)
				if (!ok1 || !ok2) && err == nil {
					err = fmt.Errorf("%s[%v]: want codename: \"Human readable name\", got %v", at, c, n)
				}
				spec.Permissions[string(code)] = string(name)
			})
		default:
			err = fmt.Errorf("%s: unknown key (known: default_permissions, permissions, verbose_name)", at)
		}
	})
	return spec, err
}
