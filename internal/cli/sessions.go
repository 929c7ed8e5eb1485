package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/sessionstore"
)

// cmdSessions is `gateway sessions list|revoke`: a user's sessions, from
// the per-user session index. A session is shown by a prefix of its key id
// (the base64url SHA-256 of its id), never by its id (a credential) or its
// whole hash.
func cmdSessions(ctx context.Context, env *runEnv, args []string) error {
	return dispatch(ctx, env, "sessions", []sub{
		{name: "list", args: "USERNAME", min: 1, max: 1, run: listSessions},
		{name: "revoke", args: "USERNAME (--all | ID-PREFIX)", min: 1, max: 2,
			flags: func(fs *flag.FlagSet) { fs.Bool("all", false, "end all of the user's sessions") },
			run:   revokeSessions},
	}, args)
}

func (id *identity) sessions() *sessionstore.Store {
	return sessionstore.New(id.rdb, id.cfg.Redis.KeyPrefix)
}

func listSessions(ctx context.Context, env *runEnv, id *identity, _ *flag.FlagSet, pos []string) error {
	u, err := id.store.GetUserByUsername(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user %q: %w", pos[0], err)
	}
	list, err := id.sessions().List(ctx, u.ID, time.Now())
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(env.Stdout, "User '%s' has no sessions.\n", u.Username)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tLAST ACTIVITY\tEXPIRES\tIP\tBACKEND\tUSER AGENT")
	for _, in := range list {
		if in.Session == nil {
			fmt.Fprintf(tw, "%s\t(corrupt)\t\t%s\t\t\t\n", in.IDPrefix, when(in.ExpiresAt))
			continue
		}
		s := in.Session
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.IDPrefix, when(s.CreatedAt), when(s.LastActivity), when(in.ExpiresAt),
			printable(s.ClientIP, 45), printable(s.Backend, 20), printable(s.UserAgent, 80))
	}
	return tw.Flush()
}

func revokeSessions(ctx context.Context, env *runEnv, id *identity, fs *flag.FlagSet, pos []string) error {
	all := flagValue(fs, "all") == "true"
	switch {
	case all && len(pos) == 2:
		return fmt.Errorf("%w: give --all or an ID-PREFIX, not both", errUsage)
	case !all && len(pos) == 1:
		return fmt.Errorf("%w: give --all or the ID-PREFIX of a session (`gateway sessions list %s`)", errUsage, pos[0])
	case !all && !sessionstore.ValidPrefix(pos[1]):
		return fmt.Errorf("%w: ID-PREFIX must be %d or more characters (A-Z a-z 0-9 - _, case-sensitive) as `gateway sessions list` shows them, got %q",
			errUsage, sessionstore.MinPrefix, pos[1])
	}
	u, err := id.store.GetUserByUsername(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user %q: %w", pos[0], err)
	}
	var n int
	if all {
		n, err = id.sessions().RevokeAll(ctx, u.ID)
	} else {
		n, err = id.sessions().Revoke(ctx, u.ID, pos[1])
	}
	if err != nil {
		return fmt.Errorf("user %q: %w", u.Username, err)
	}
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(env.Stdout, "Ended %d session%s of user '%s'.\n", n, plural, u.Username)
	if n > 0 {
		which := "all"
		if !all {
			which = pos[1]
		}
		env.record(ctx, id, audit.Event{Name: audit.SessionRevoked, Username: u.Username, UserID: u.ID,
			Fields: map[string]string{"sessions": strconv.Itoa(n), "which": which}})
	}
	return nil
}

// printable makes a client-supplied value (a user agent) safe for a
// terminal: control and other unprintable characters become "?", and it
// is cut to limit runes.
func printable(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
