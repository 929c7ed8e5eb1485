package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/djangate/gateway/internal/djangoimport"
)

// cmdImportDjango loads `manage.py dumpdata auth contenttypes` output into
// the identity store: content types as declared models, permissions,
// groups and users with their Django password hashes. The file is parsed
// and validated completely before Redis is contacted; the write is one
// atomic script.
func cmdImportDjango(ctx context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("import-django", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	dryRun := fs.Bool("dry-run", false, "print what would change and write nothing")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	var data []byte
	if name == "-" {
		name = "stdin"
		data, err = io.ReadAll(env.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	fx, err := djangoimport.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w\nnothing was imported", name, err)
	}
	id, err := env.openIdentity(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer id.Close()

	fmt.Fprintf(env.Stdout, "%s: %s, %s, %s, %s.\n", name,
		importCount(len(fx.Models), "content type", "content types"), importCount(fx.Permissions(), "permission", "permissions"),
		importCount(len(fx.Groups), "group", "groups"), importCount(len(fx.Users), "user", "users"))
	if *dryRun {
		fmt.Fprintln(env.Stdout, "Dry run: comparing with the store, nothing will be written.")
	}
	for _, p := range fx.PasswordProblems(id.store.PasswordHashProblem) {
		fmt.Fprintf(env.Stderr, "warning: user %q: %v; they cannot log in with a password until its algorithm is in password_hashers or the password is reset\n", p.Username, p.Err)
	}
	changes, err := djangoimport.Import(ctx, id.store, fx, *dryRun)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	changes.Write(env.Stdout, *dryRun)
	return nil
}

func importCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
