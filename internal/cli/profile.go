package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// fieldFlags collects repeated --field name=value flags.
type fieldFlags []string

func (f *fieldFlags) String() string     { return strings.Join(*f, " ") }
func (f *fieldFlags) Set(v string) error { *f = append(*f, v); return nil }

const fieldUsage = "a profile field as name=value (repeatable); see profile_fields in config.yaml"

// maxFieldPrompts is how often a required field is asked for before
// giving up, as askPassword.
const maxFieldPrompts = 3

// profileValues parses the --field assignments of a new user against the
// declared schema. Required fields without a default that were not given
// are asked for on a terminal when interactive (as Django's
// createsuperuser asks for REQUIRED_FIELDS); otherwise they are an error.
func (e *runEnv) profileValues(schema *profile.Schema, assignments []string, interactive bool) (profile.Values, error) {
	values := profile.Values{}
	var errs []error
	for _, a := range assignments {
		name, v, err := schema.ParseAssignment(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := values[name]; dup {
			errs = append(errs, fmt.Errorf("%w: %s given twice", profile.ErrInvalidValue, name))
			continue
		}
		values[name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	missing := schema.MissingRequired(values)
	if len(missing) == 0 {
		return values, nil
	}
	if !interactive || e.Terminal == nil || !e.Terminal() {
		hint := make([]string, len(missing))
		for i, m := range missing {
			hint[i] = "--field " + m + "=VALUE"
		}
		return nil, fmt.Errorf("%w: %s (give %s)", profile.ErrMissingRequired, strings.Join(missing, ", "), strings.Join(hint, " "))
	}
	for _, name := range missing {
		v, err := e.askField(schema, name)
		if err != nil {
			return nil, err
		}
		values[name] = v
	}
	return values, nil
}

// askField prompts for one field on the terminal until a valid value is
// given, as Django's createsuperuser does for each REQUIRED_FIELDS entry.
func (e *runEnv) askField(schema *profile.Schema, name string) (any, error) {
	f, _ := schema.Field(name)
	label := strings.ToUpper(name[:1]) + strings.ReplaceAll(name[1:], "_", " ")
	for range maxFieldPrompts {
		fmt.Fprintf(e.Stderr, "%s (%s): ", label, f.Type)
		line, err := e.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		switch v, perr := schema.Parse(name, line); {
		case strings.TrimSpace(line) == "" && f.Type != profile.StringList:
			fmt.Fprintln(e.Stderr, "Error: This field cannot be blank.")
		case perr != nil:
			fmt.Fprintf(e.Stderr, "Error: %v\n", perr)
		default:
			return v, nil
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return nil, fmt.Errorf("%w: %s: no valid value given", profile.ErrMissingRequired, name)
}

// setFields is `gateway user set-field USERNAME NAME=VALUE...`: every
// value is checked against the schema before any is stored, and they are
// stored in one write.
func setFields(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
	username := pos[0]
	updates := profile.Values{}
	var errs []error
	for _, a := range pos[1:] {
		name, v, err := id.profile.ParseAssignment(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		updates[name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := id.store.UpdateProfile(ctx, username, func(cur profile.Values) (profile.Values, error) {
		next := profile.Values{}
		for k, v := range cur {
			next[k] = v
		}
		for k, v := range updates {
			next[k] = v
		}
		return next, nil
	}); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	names := sortedNames(updates)
	env.record(ctx, id, profileEvent(username, names))
	for _, n := range names {
		fmt.Fprintf(env.Stdout, "Field '%s' of user '%s' set to %s.\n", n, username, profile.FormatText(updates[n]))
	}
	return nil
}

// unsetFields is `gateway user unset-field USERNAME NAME...`: the stored
// values are removed (the default applies again). Names no longer
// declared may be removed too, to clean up; a required field without a
// default may not.
func unsetFields(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
	username, names := pos[0], pos[1:]
	for _, n := range names {
		if f, ok := id.profile.Field(n); ok && f.Required && f.Default == nil {
			return fmt.Errorf("%w: %s is required and has no default; set another value instead", profile.ErrInvalidValue, n)
		}
	}
	if _, err := id.store.UpdateProfile(ctx, username, func(cur profile.Values) (profile.Values, error) {
		next := profile.Values{}
		for k, v := range cur {
			next[k] = v
		}
		for _, n := range names {
			if _, ok := next[n]; !ok {
				if _, declared := id.profile.Field(n); !declared {
					return nil, fmt.Errorf("user %q has no stored field %q and it is not declared: %w", username, n, profile.ErrUnknownField)
				}
			}
			delete(next, n)
		}
		return next, nil
	}); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	env.record(ctx, id, profileEvent(username, names))
	for _, n := range names {
		fmt.Fprintf(env.Stdout, "Field '%s' of user '%s' unset.\n", n, username)
	}
	return nil
}

func profileEvent(username string, fields []string) audit.Event {
	return audit.Event{Name: audit.UserProfileChanged, Username: username, Fields: map[string]string{"profile_fields": strings.Join(fields, ",")}}
}

// writeProfile prints a user's profile for `user show`: each declared
// field with its effective value ("(default)" when it is the default) or
// why it has none, then stored values of fields no longer declared.
func writeProfile(tw *tabwriter.Writer, schema *profile.Schema, u *authn.User) {
	eff := schema.Effective(u.Profile)
	problems := schema.Problems(u.Profile)
	for _, f := range schema.Fields() {
		key := "profile." + f.Name + ":"
		if msg, bad := problems[f.Name]; bad {
			fmt.Fprintf(tw, "%s\t(%s)\n", key, msg)
			continue
		}
		v, ok := eff[f.Name]
		switch {
		case !ok:
			fmt.Fprintf(tw, "%s\t(not set)\n", key)
		case u.Profile[f.Name] == nil:
			fmt.Fprintf(tw, "%s\t%s (default)\n", key, profile.FormatText(v))
		default:
			fmt.Fprintf(tw, "%s\t%s\n", key, profile.FormatText(v))
		}
	}
	for _, n := range schema.Undeclared(u.Profile) {
		fmt.Fprintf(tw, "profile.%s:\t%s (stored, not declared: unused)\n", n, profile.FormatText(u.Profile[n]))
	}
}

func sortedNames(v profile.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
