package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/djangate/gateway/internal/authn"
)

// cmdHashPassword prints a hash of a password read from stdin (or asked
// twice on a terminal), made with the first configured hasher — for ops
// who seed users or write hashes into an import.
func cmdHashPassword(_ context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	cfgPath := env.configFlag(fs)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	cfg, err := env.loadConfig(*cfgPath, false)
	if err != nil {
		return err
	}
	hs, err := newHashers(cfg)
	if err != nil {
		return err
	}
	var password string
	if env.Terminal != nil && env.Terminal() {
		password, err = env.askPassword("", func(string) error { return nil })
	} else {
		password, err = env.readLine()
	}
	if err != nil {
		return err
	}
	if password == "" {
		return authn.ErrEmptyPassword
	}
	enc, err := hs.Make(password)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, enc)
	return nil
}
