package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/throttle"
)

// cmdUnlock lifts a login lockout: `gateway unlock USER|IP` forgets the
// failed logins counted for a username or a client IP and ends its lock.
// An argument that is an IP address is also tried as a username, since
// Django allows usernames such as "10.0.0.1".
func cmdUnlock(ctx context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("unlock", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	arg := pos[0]
	_, isIP := throttle.IPSubject(arg)
	isUser := authn.ValidateUsername(authn.NormalizeUsername(arg)) == nil
	if !isIP && !isUser {
		return fmt.Errorf("%w: %q is neither an IP address nor a valid username", errUsage, arg)
	}
	id, err := env.openIdentity(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer id.Close()
	l := newThrottle(id.cfg, id.rdb)
	var cleared []throttle.Cleared
	if isIP {
		c, err := l.UnlockIP(ctx, arg)
		if err != nil {
			return err
		}
		cleared = append(cleared, c)
	}
	if isUser {
		c, err := l.UnlockUsername(ctx, arg)
		if err != nil {
			return err
		}
		// A name that is an IP address is reported only if it had something.
		if !isIP || c.Failures > 0 || c.Remaining > 0 {
			cleared = append(cleared, c)
		}
	}
	for _, c := range cleared {
		what := describeSubject(c, arg)
		if c.Failures == 0 && c.Remaining == 0 {
			fmt.Fprintf(env.Stdout, "Nothing to unlock: %s has no lock and no recent failed logins.\n", what)
			continue
		}
		msg := "Unlocked " + what + ":"
		if c.Remaining > 0 {
			msg += fmt.Sprintf(" lifted a lock with %s left,", c.Remaining.Round(time.Second))
		}
		fmt.Fprintf(env.Stdout, "%s forgot %d failed login(s).\n", msg, c.Failures)
		env.record(ctx, id, audit.Event{Name: audit.Unlocked, Username: usernameOf(c), Fields: map[string]string{
			"scope": string(c.Scope), "subject": c.Subject, "failures": strconv.FormatInt(c.Failures, 10),
			"remaining_seconds": strconv.FormatInt(int64(c.Remaining.Round(time.Second)/time.Second), 10),
		}})
	}
	return nil
}

func describeSubject(c throttle.Cleared, arg string) string {
	if c.Scope == throttle.ScopeUsername {
		return fmt.Sprintf("username %q", c.Subject)
	}
	if strings.Contains(c.Subject, "/") {
		return fmt.Sprintf("IP %s (%s counts as its /64)", c.Subject, arg)
	}
	return "IP " + c.Subject
}

func usernameOf(c throttle.Cleared) string {
	if c.Scope == throttle.ScopeUsername {
		return c.Subject
	}
	return ""
}
