package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

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
	userModel := fs.String("user-model", "auth.user", "the users' model in the fixture: AUTH_USER_MODEL as dumpdata writes it, e.g. accounts.user")
	var maps fieldFlags
	fs.Var(&maps, "map", "COLUMN=FIELD: import the custom user model's COLUMN into profile field FIELD (repeatable; a column by default fills the field of its own name)")
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
	cfg, err := env.loadConfig(*cfgPath, false)
	if err != nil {
		return err
	}
	schema, err := cfg.ProfileSchema()
	if err != nil {
		return err
	}
	opts := djangoimport.Options{UserModel: *userModel, Profile: schema, Columns: map[string]string{}}
	for _, m := range maps {
		col, field, ok := strings.Cut(m, "=")
		if !ok || col == "" || field == "" {
			return fmt.Errorf("%w: --map %q: want COLUMN=FIELD", errUsage, m)
		}
		opts.Columns[col] = field
	}
	fx, err := djangoimport.ParseWith(data, opts)
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
	for _, u := range fx.Unmapped {
		fmt.Fprintf(env.Stderr, "warning: column %q of %s is not imported: no profile field takes it (%s with a value); declare one in profile_fields or map it with --map %s=FIELD\n",
			u.Column, *userModel, importCount(u.Users, "user", "users"), u.Column)
	}
	for _, f := range sortedKeys(fx.MissingRequired) {
		fmt.Fprintf(env.Stderr, "warning: required profile field %q has no default and no value for %s in the fixture; they are imported without one\n",
			f, importCount(fx.MissingRequired[f], "user", "users"))
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

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func importCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
