// Command gateway is an authorization gateway: Django's users, groups,
// permissions and sessions in front of any web app, with every request
// decided by a Rego policy. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/djangate/gateway/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.SystemIO())
	stop()
	os.Exit(code)
}
