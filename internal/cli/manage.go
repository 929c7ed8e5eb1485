package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/tokens"
)

func cmdCreateSuperuser(ctx context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("createsuperuser", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "email address")
	noinput := fs.Bool("noinput", false, "do not prompt; read the password from GATEWAY_SUPERUSER_PASSWORD")
	var fields fieldFlags
	fs.Var(&fields, "field", fieldUsage)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *username == "" {
		return fmt.Errorf("%w: --username is required", errUsage)
	}
	u := &authn.User{Username: *username, Email: *email, IsActive: true, IsStaff: true, IsSuperuser: true}
	var password string
	if *noinput {
		p, ok := env.getenv("GATEWAY_SUPERUSER_PASSWORD")
		switch {
		case !ok:
			// Django's --noinput without a password: an unusable one.
			fmt.Fprintln(env.Stderr, "GATEWAY_SUPERUSER_PASSWORD is not set: the superuser gets an unusable password (set one with `gateway changepassword`).")
			u.Password = "!"
		case p == "":
			return errors.New("GATEWAY_SUPERUSER_PASSWORD is empty: blank passwords aren't allowed")
		default:
			password = p
		}
	}
	return createUser(ctx, env, *cfgPath, u, fields, password, !*noinput, "Superuser created successfully.")
}

// createUser opens the store, asks for required profile fields and a
// password when ask is set, and creates u with the --field values. u.Password
// "!" asks for an unusable password.
func createUser(ctx context.Context, env *runEnv, cfgPath string, u *authn.User, fields []string, password string, ask bool, done string) error {
	// Normalize as CreateUser will, so the existence check below sees the
	// name that would be stored ("ﬁnn" is "finn").
	u.Username = authn.NormalizeUsername(u.Username)
	if err := authn.ValidateUsername(u.Username); err != nil {
		return err
	}
	id, err := env.openIdentity(ctx, cfgPath)
	if err != nil {
		return err
	}
	defer id.Close()
	if _, err := id.store.GetUserByUsername(ctx, u.Username); err == nil {
		return fmt.Errorf("user %q: %w", u.Username, authn.ErrUserExists)
	} else if !errors.Is(err, authn.ErrUserNotFound) {
		return err
	}
	if u.Profile, err = env.profileValues(id.profile, fields, ask); err != nil {
		return err
	}
	switch {
	case u.Password == "!":
		u.Password = id.hashers.MakeUnusable()
	case ask:
		if password, err = env.askPassword("use --noinput with GATEWAY_SUPERUSER_PASSWORD", id.checker(u)); err != nil {
			return err
		}
	default:
		if err := id.checker(u)(password); err != nil {
			return err
		}
	}
	created, err := id.store.CreateUser(ctx, u, password)
	if err != nil {
		return err
	}
	env.record(ctx, id, createdEvent(created))
	fmt.Fprintln(env.Stdout, done)
	return nil
}

func cmdChangePassword(ctx context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("changepassword", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	fromStdin := fs.Bool("password-stdin", false, "read the new password from one line of stdin")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	username := pos[0]
	id, err := env.openIdentity(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer id.Close()
	u, err := id.store.GetUserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	var password string
	if *fromStdin {
		if password, err = env.readLine(); err != nil {
			return err
		}
		if password == "" {
			return authn.ErrEmptyPassword
		}
		if err := id.checker(u)(password); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stderr, "Changing password for user '%s'\n", username)
		if password, err = env.askPassword("use --password-stdin", id.checker(u)); err != nil {
			return err
		}
	}
	enc, err := id.hashers.Make(password)
	if err != nil {
		return err
	}
	if err := id.store.SetPassword(ctx, username, enc); err != nil {
		return err
	}
	env.record(ctx, id, audit.Event{Name: audit.PasswordChanged, Username: u.Username, UserID: u.ID})
	fmt.Fprintf(env.Stdout, "Password changed successfully for user '%s'\n", username)
	return nil
}

// sub dispatches `gateway user ...` and `gateway group ...`.
type sub struct {
	name, args string
	min, max   int
	run        func(ctx context.Context, env *runEnv, id *identity, fs *flag.FlagSet, pos []string) error
	flags      func(fs *flag.FlagSet)
}

func dispatch(ctx context.Context, env *runEnv, group string, subs []sub, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(env.Stdout, "usage: gateway %s SUBCOMMAND [--config FILE]\n\n", group)
		for _, s := range subs {
			fmt.Fprintf(env.Stdout, "  gateway %s %s %s\n", group, s.name, s.args)
		}
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	for _, s := range subs {
		if s.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet(group+" "+s.name, flag.ContinueOnError)
		cfgPath := env.configFlag(fs)
		if s.flags != nil {
			s.flags(fs)
		}
		pos, err := parse(fs, args[1:], s.min, s.max)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(env.Stdout, "usage: gateway %s %s %s\n", group, s.name, s.args)
			fs.SetOutput(env.Stdout)
			fs.PrintDefaults()
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w\nusage: gateway %s %s %s", s.name, err, group, s.name, s.args)
		}
		id, err := env.openIdentity(ctx, *cfgPath)
		if err != nil {
			return err
		}
		defer id.Close()
		return s.run(ctx, env, id, fs, pos)
	}
	return fmt.Errorf("%w: unknown subcommand %q (try `gateway %s help`)", errUsage, args[0], group)
}

func flagValue(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func cmdUser(ctx context.Context, env *runEnv, args []string) error {
	return dispatch(ctx, env, "user", []sub{
		{name: "create", args: "USERNAME [--email E] [--first-name F] [--last-name L] [--staff] [--superuser] [--inactive] [--field NAME=VALUE]... [--password-stdin|--unusable-password]", min: 1, max: 1,
			flags: func(fs *flag.FlagSet) {
				fs.Var(&fieldFlags{}, "field", fieldUsage)
				fs.String("email", "", "email address")
				fs.String("first-name", "", "first name")
				fs.String("last-name", "", "last name")
				fs.Bool("staff", false, "is_staff")
				fs.Bool("superuser", false, "is_superuser")
				fs.Bool("inactive", false, "create with is_active false")
				fs.Bool("password-stdin", false, "read the password from one line of stdin")
				fs.Bool("unusable-password", false, "set an unusable password (the user cannot log in with one)")
			},
			run: func(ctx context.Context, env *runEnv, id *identity, fs *flag.FlagSet, pos []string) error {
				u := &authn.User{
					Username: pos[0], Email: flagValue(fs, "email"), FirstName: flagValue(fs, "first-name"), LastName: flagValue(fs, "last-name"),
					IsStaff: flagValue(fs, "staff") == "true", IsSuperuser: flagValue(fs, "superuser") == "true", IsActive: flagValue(fs, "inactive") != "true",
				}
				var err error
				// Required fields are asked for on a terminal, unless
				// stdin carries the password.
				interactive := flagValue(fs, "password-stdin") != "true"
				if u.Profile, err = env.profileValues(id.profile, *fs.Lookup("field").Value.(*fieldFlags), interactive); err != nil {
					return err
				}
				var password string
				switch {
				case flagValue(fs, "unusable-password") == "true":
					u.Password = id.hashers.MakeUnusable()
				case flagValue(fs, "password-stdin") == "true":
					p, err := env.readLine()
					if err != nil {
						return err
					}
					if err := id.checker(u)(p); err != nil {
						return err
					}
					password = p
				default:
					p, err := env.askPassword("use --password-stdin or --unusable-password", id.checker(u))
					if err != nil {
						return err
					}
					password = p
				}
				created, err := id.store.CreateUser(ctx, u, password)
				if err != nil {
					return err
				}
				env.record(ctx, id, createdEvent(created))
				fmt.Fprintf(env.Stdout, "User '%s' created.\n", created.Username)
				return nil
			}},
		{name: "list", min: 0, max: 0, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, _ []string) error {
			users, err := id.store.ListUsers(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tEMAIL\tACTIVE\tSTAFF\tSUPERUSER\tLAST LOGIN")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, yesNo(u.IsActive), yesNo(u.IsStaff), yesNo(u.IsSuperuser), when(u.LastLogin))
			}
			return tw.Flush()
		}},
		{name: "show", args: "USERNAME", min: 1, max: 1, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
			u, err := id.store.GetUserByUsername(ctx, pos[0])
			if err != nil {
				return fmt.Errorf("user %q: %w", pos[0], err)
			}
			p, err := id.store.LoadPrincipal(ctx, u.ID, "")
			if err != nil {
				return err
			}
			direct, err := id.store.UserPermissions(ctx, u.Username)
			if err != nil {
				return err
			}
			usable := "usable"
			if !authn.IsUsable(u.Password) {
				usable = "unusable"
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			for _, row := range [][2]string{
				{"id", fmt.Sprint(u.ID)}, {"username", u.Username}, {"email", u.Email},
				{"first_name", u.FirstName}, {"last_name", u.LastName},
				{"is_active", yesNo(u.IsActive)}, {"is_staff", yesNo(u.IsStaff)}, {"is_superuser", yesNo(u.IsSuperuser)},
				{"password", usable}, {"date_joined", when(u.DateJoined)}, {"last_login", when(u.LastLogin)},
				{"groups", strings.Join(p.Groups, ", ")}, {"user_permissions", strings.Join(direct, ", ")},
				{"all_permissions", strings.Join(p.Permissions, ", ")},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
			}
			writeProfile(tw, id.profile, u)
			return tw.Flush()
		}},
		{name: "set-field", args: "USERNAME NAME=VALUE...", min: 2, max: -1, run: setFields},
		{name: "unset-field", args: "USERNAME NAME...", min: 2, max: -1, run: unsetFields},
		{name: "activate", args: "USERNAME", min: 1, max: 1, run: setActive(true)},
		{name: "deactivate", args: "USERNAME", min: 1, max: 1, run: setActive(false)},
		{name: "delete", args: "USERNAME", min: 1, max: 1, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
			if err := id.store.DeleteUser(ctx, pos[0]); err != nil {
				return fmt.Errorf("user %q: %w", pos[0], err)
			}
			env.record(ctx, id, userEvent(audit.UserDeleted, pos[0]))
			fmt.Fprintf(env.Stdout, "User '%s' deleted.\n", pos[0])
			return nil
		}},
		{name: "grant", args: "USERNAME PERMISSION...", min: 2, max: -1, run: perms("user", "granted to", func(id *identity) func(context.Context, string, string) error { return id.store.GrantUserPermission })},
		{name: "revoke", args: "USERNAME PERMISSION...", min: 2, max: -1, run: perms("user", "revoked from", func(id *identity) func(context.Context, string, string) error { return id.store.RevokeUserPermission })},
	}, args)
}

func cmdGroup(ctx context.Context, env *runEnv, args []string) error {
	return dispatch(ctx, env, "group", []sub{
		{name: "create", args: "NAME", min: 1, max: 1, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
			if err := id.store.CreateGroup(ctx, pos[0]); err != nil {
				return fmt.Errorf("group %q: %w", pos[0], err)
			}
			env.record(ctx, id, groupEvent(audit.GroupCreated, pos[0]))
			fmt.Fprintf(env.Stdout, "Group '%s' created.\n", pos[0])
			return nil
		}},
		{name: "delete", args: "NAME", min: 1, max: 1, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
			if err := id.store.DeleteGroup(ctx, pos[0]); err != nil {
				return fmt.Errorf("group %q: %w", pos[0], err)
			}
			env.record(ctx, id, groupEvent(audit.GroupDeleted, pos[0]))
			fmt.Fprintf(env.Stdout, "Group '%s' deleted.\n", pos[0])
			return nil
		}},
		{name: "list", min: 0, max: 0, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, _ []string) error {
			groups, err := id.store.ListGroups(ctx)
			if err != nil {
				return err
			}
			for _, g := range groups {
				fmt.Fprintln(env.Stdout, g)
			}
			return nil
		}},
		{name: "show", args: "NAME", min: 1, max: 1, run: func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
			members, err := id.store.GroupMembers(ctx, pos[0])
			if err != nil {
				return fmt.Errorf("group %q: %w", pos[0], err)
			}
			perms, err := id.store.GroupPermissions(ctx, pos[0])
			if err != nil {
				return fmt.Errorf("group %q: %w", pos[0], err)
			}
			fmt.Fprintf(env.Stdout, "name:        %s\nmembers:     %s\npermissions: %s\n", pos[0], strings.Join(members, ", "), strings.Join(perms, ", "))
			return nil
		}},
		{name: "add-user", args: "GROUP USERNAME...", min: 2, max: -1, run: members("added to", func(id *identity) func(context.Context, string, string) error { return id.store.AddUserToGroup })},
		{name: "remove-user", args: "GROUP USERNAME...", min: 2, max: -1, run: members("removed from", func(id *identity) func(context.Context, string, string) error { return id.store.RemoveUserFromGroup })},
		{name: "grant", args: "GROUP PERMISSION...", min: 2, max: -1, run: perms("group", "granted to", func(id *identity) func(context.Context, string, string) error { return id.store.GrantGroupPermission })},
		{name: "revoke", args: "GROUP PERMISSION...", min: 2, max: -1, run: perms("group", "revoked from", func(id *identity) func(context.Context, string, string) error { return id.store.RevokeGroupPermission })},
	}, args)
}

func setActive(active bool) func(context.Context, *runEnv, *identity, *flag.FlagSet, []string) error {
	return func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
		if err := id.store.SetActive(ctx, pos[0], active); err != nil {
			return fmt.Errorf("user %q: %w", pos[0], err)
		}
		if !active {
			// Deactivation ends the user's API logins for good: every
			// refresh-token family (and the access tokens issued in it).
			// A token is refused while the user is inactive in any case.
			u, err := id.store.GetUserByUsername(ctx, pos[0])
			if err == nil {
				err = tokens.NewStore(id.rdb, id.cfg.Redis.KeyPrefix).RevokeUser(ctx, u.ID)
			}
			if err != nil {
				return fmt.Errorf("user %q is inactive, but revoking its tokens failed: %w", pos[0], err)
			}
		}
		env.record(ctx, id, activeEvent(active, pos[0]))
		fmt.Fprintf(env.Stdout, "User '%s' is now %s.\n", pos[0], map[bool]string{true: "active", false: "inactive"}[active])
		return nil
	}
}

// perms grants or revokes each permission, validating all names first so
// a typo in the third name does not leave the first two applied.
func perms(kind, verb string, op func(*identity) func(context.Context, string, string) error) func(context.Context, *runEnv, *identity, *flag.FlagSet, []string) error {
	return func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
		for _, p := range pos[1:] {
			if err := authn.ValidatePermission(p); err != nil {
				return err
			}
		}
		if verb == "granted to" {
			// Only declared permissions can be granted: declare what the
			// gateway would, first.
			if err := env.declarePolicyModels(ctx, id); err != nil {
				return err
			}
		}
		for _, p := range pos[1:] {
			if err := op(id)(ctx, pos[0], p); err != nil {
				return fmt.Errorf("%s %q: %w", kind, pos[0], err)
			}
			env.record(ctx, id, permEvent(kind, verb, pos[0], p))
			fmt.Fprintf(env.Stdout, "Permission '%s' %s %s '%s'.\n", p, verb, kind, pos[0])
		}
		return nil
	}
}

// members adds or removes each user, checking first that the group and
// every user exist so a typo does not leave the change half applied.
func members(verb string, op func(*identity) func(context.Context, string, string) error) func(context.Context, *runEnv, *identity, *flag.FlagSet, []string) error {
	return func(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
		if _, err := id.store.GroupMembers(ctx, pos[0]); err != nil {
			return fmt.Errorf("group %q: %w", pos[0], err)
		}
		for _, u := range pos[1:] {
			if _, err := id.store.GetUserByUsername(ctx, u); err != nil {
				return fmt.Errorf("user %q: %w", u, err)
			}
		}
		for _, u := range pos[1:] {
			if err := op(id)(ctx, u, pos[0]); err != nil {
				return fmt.Errorf("group %q, user %q: %w", pos[0], u, err)
			}
			env.record(ctx, id, memberEvent(verb, pos[0], u))
			fmt.Fprintf(env.Stdout, "User '%s' %s group '%s'.\n", u, verb, pos[0])
		}
		return nil
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
