package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/redisclient"
)

const auditUsage = "usage: gateway audit tail [--follow] [--count N] [--config FILE]"

// cmdAudit reads the audit stream: `gateway audit tail` prints its last
// events, one JSON object a line, oldest first; --follow then prints new
// ones as they come until interrupted.
func cmdAudit(ctx context.Context, env *runEnv, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, auditUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	if args[0] != "tail" {
		return fmt.Errorf("%w: unknown subcommand %q (try `gateway audit help`)", errUsage, args[0])
	}
	fs := flag.NewFlagSet("audit tail", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	follow := fs.Bool("follow", false, "keep printing new events until interrupted")
	fs.BoolVar(follow, "f", false, "same as --follow")
	count := fs.Int("count", 10, "how many of the latest events to print first")
	if _, err := parse(fs, args[1:], 0, 0); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stdout, auditUsage)
			fs.SetOutput(env.Stdout)
			fs.PrintDefaults()
			return nil
		}
		return err
	}
	if *count < 0 {
		return fmt.Errorf("%w: --count must be 0 or more, got %d", errUsage, *count)
	}
	cfg, err := env.loadConfig(*cfgPath, false)
	if err != nil {
		return err
	}
	rdb, err := newRedis(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis at %s: %w", redisclient.Where(cfg.Redis), err)
	}
	stream := cfg.Redis.KeyPrefix + cfg.Audit.Stream
	if !cfg.Audit.On() {
		fmt.Fprintf(env.Stderr, "note: audit.enabled is false, so nothing new is appended to %s\n", stream)
	}
	emit := func(e audit.Entry) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
		return err
	}
	after := "$" // only what comes next
	if *count > 0 {
		entries, err := audit.Latest(ctx, rdb, stream, int64(*count))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		for _, e := range entries {
			if err := emit(e); err != nil {
				return err
			}
		}
		after = "0-0" // the stream was empty: everything added from now on
		if len(entries) > 0 {
			after = entries[len(entries)-1].ID
		}
	}
	if !*follow {
		return nil
	}
	if err := audit.Follow(ctx, rdb, stream, after, time.Second, emit); err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	return nil
}

// Audit events of the management commands (manage.go records them).

// userEvent is an event about a user by name.
func userEvent(name, username string) audit.Event {
	return audit.Event{Name: name, Username: authn.NormalizeUsername(username)}
}

// createdEvent is user_created for u as stored.
func createdEvent(u *authn.User) audit.Event {
	return audit.Event{Name: audit.UserCreated, Username: u.Username, UserID: u.ID, Fields: map[string]string{
		"is_active": strconv.FormatBool(u.IsActive), "is_staff": strconv.FormatBool(u.IsStaff), "is_superuser": strconv.FormatBool(u.IsSuperuser),
	}}
}

func activeEvent(active bool, username string) audit.Event {
	if active {
		return userEvent(audit.UserActivated, username)
	}
	return userEvent(audit.UserDeactivated, username)
}

// permEvent is a permission granted to or revoked from a user or a group
// (kind and verb as perms has them).
func permEvent(kind, verb, who, perm string) audit.Event {
	granted := verb == "granted to"
	if kind == "group" {
		name := audit.GroupPermissionRevoked
		if granted {
			name = audit.GroupPermissionGranted
		}
		return audit.Event{Name: name, Fields: map[string]string{"group": who, "permission": perm}}
	}
	e := userEvent(audit.UserPermissionRevoked, who)
	if granted {
		e.Name = audit.UserPermissionGranted
	}
	e.Fields = map[string]string{"permission": perm}
	return e
}

func groupEvent(name, group string) audit.Event {
	return audit.Event{Name: name, Fields: map[string]string{"group": group}}
}

// memberEvent is a user added to or removed from a group (verb as members
// has it).
func memberEvent(verb, group, username string) audit.Event {
	e := userEvent(audit.GroupMemberRemoved, username)
	if verb == "added to" {
		e.Name = audit.GroupMemberAdded
	}
	e.Fields = map[string]string{"group": group}
	return e
}
