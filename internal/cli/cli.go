// Package cli is the gateway's command line: `serve`, `demo`,
// `check-config` and Django-style management commands (createsuperuser,
// changepassword, user, group). cmd/gateway only calls Main.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IO is the process environment a command runs in; tests substitute it.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
	// Terminal reports whether stdin is an interactive terminal.
	Terminal func() bool
	// ReadPassword reads a password without echo after printing prompt.
	ReadPassword func(prompt string) (string, error)
}

// SystemIO is the real process environment.
func SystemIO() IO {
	fd := int(os.Stdin.Fd())
	return IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ(),
		Terminal: func() bool { return term.IsTerminal(fd) },
		ReadPassword: func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			return string(b), err
		},
	}
}

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *runEnv, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "[--config FILE]", "Run the gateway in front of the configured upstreams (needs Redis).", cmdServe},
		{"demo", "[--listen ADDR]", "Run a self-contained demo: in-process store, demo app, demo users.", cmdDemo},
		{"check-config", "[--config FILE]", "Validate the configuration and exit 0 (valid) or 1 (invalid).", cmdCheckConfig},
		{"createsuperuser", "--username U --email E [--noinput]", "Create a superuser (password asked twice; --noinput reads GATEWAY_SUPERUSER_PASSWORD).", cmdCreateSuperuser},
		{"changepassword", "USERNAME [--password-stdin]", "Change a user's password.", cmdChangePassword},
		{"hash-password", "[--config FILE] < password", "Print a hash of the password on stdin, made with the first configured hasher.", cmdHashPassword},
		{"import-django", "[--config FILE] [--dry-run] FILE", "Import users, groups and permissions from `manage.py dumpdata auth contenttypes` (FILE, or - for stdin).", cmdImportDjango},
		{"user", "create|list|show|set-field|unset-field|activate|deactivate|delete|grant|revoke ...", "Manage users (`gateway user help`).", cmdUser},
		{"group", "create|list|show|delete|add-user|remove-user|grant|revoke ...", "Manage groups (`gateway group help`).", cmdGroup},
		{"sessions", "list|revoke ...", "List or end a user's sessions (`gateway sessions help`).", cmdSessions},
		{"unlock", "USER|IP [--config FILE]", "Lift a login lockout: forget the failed logins of a username or client IP.", cmdUnlock},
		{"audit", "tail [--follow] [--count N]", "Print the audit events (logins, lockouts, changes), one JSON line each.", cmdAudit},
		{"policy", "eval|test ...", "Ask the policy about one request, or run its Rego tests (`gateway policy help`).", cmdPolicy},
		{"version", "", "Print the version.", func(_ context.Context, env *runEnv, _ []string) error {
			fmt.Fprintln(env.Stdout, "gateway", Version)
			return nil
		}},
	}
}

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// Main runs the command line and returns the process exit status.
func Main(ctx context.Context, args []string, io IO) int {
	env := &runEnv{IO: io}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintf(io.Stdout, "usage: gateway %s %s\n  %s\n", c.name, c.args, c.help)
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(io.Stderr, "gateway %s: %v\nusage: gateway %s %s\n", c.name, err, c.name, c.args)
			return 2
		default:
			fmt.Fprintf(io.Stderr, "gateway %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(io.Stderr, "gateway: unknown command %q\n\n", args[0])
	usage(io.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gateway COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\nEvery command that talks to Redis takes --config FILE (default $GATEWAY_CONFIG or config.yaml).")
}

// runEnv carries the IO plus helpers shared by commands.
type runEnv struct {
	IO
	stdinLines *bufio.Reader
}

// parse parses flags wherever they appear among the positional arguments
// (`changepassword alice --config x.yaml` works), and checks the count.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		return nil, fmt.Errorf("%w: expected %s, got %d: %s", errUsage, countWord(minPos, maxPos), len(pos), strings.Join(pos, " "))
	}
	return pos, nil
}

func countWord(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max:
		return fmt.Sprintf("%d argument(s)", min)
	case max < 0:
		return fmt.Sprintf("at least %d argument(s)", min)
	default:
		return fmt.Sprintf("%d to %d arguments", min, max)
	}
}

func (e *runEnv) getenv(name string) (string, bool) {
	for _, kv := range e.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// configFlag registers --config with its default.
func (e *runEnv) configFlag(fs *flag.FlagSet) *string {
	def := "config.yaml"
	if v, ok := e.getenv("GATEWAY_CONFIG"); ok && v != "" {
		def = v
	}
	return fs.String("config", def, "configuration file")
}

// readLine reads one line from stdin (for --password-stdin).
func (e *runEnv) readLine() (string, error) {
	if e.stdinLines == nil {
		e.stdinLines = bufio.NewReader(e.Stdin)
	}
	line, err := e.stdinLines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// askPassword asks twice on the terminal like Django, up to three tries.
// check (the password validators) runs on each candidate; a rejected
// password is a failed try and its reasons are shown, as in Django's
// changepassword. hint says how to pass a password without a terminal.
func (e *runEnv) askPassword(hint string, check func(string) error) (string, error) {
	if e.Terminal == nil || !e.Terminal() || e.ReadPassword == nil {
		return "", errors.New("no terminal to read the password from; " + hint)
	}
	for try := 0; try < 3; try++ {
		p1, err := e.ReadPassword("Password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		p2, err := e.ReadPassword("Password (again): ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		switch {
		case p1 != p2:
			fmt.Fprintln(e.Stderr, "Error: Your passwords didn't match.")
		case strings.TrimSpace(p1) == "":
			fmt.Fprintln(e.Stderr, "Error: Blank passwords aren't allowed.")
		default:
			if err := check(p1); err != nil {
				fmt.Fprintln(e.Stderr, err)
				continue
			}
			return p1, nil
		}
	}
	return "", errors.New("too many failed attempts; password unchanged")
}
