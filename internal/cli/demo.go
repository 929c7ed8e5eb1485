package cli

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/djangate/gateway/internal/demo"
)

func cmdDemo(ctx context.Context, env *runEnv, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the demo on")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	defer ln.Close()
	d, err := demo.Start(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Config.Listen = ln.Addr().String()
	srv, _, err := buildServer(ctx, d.Config, d.Redis, demo.Logger(env.Stderr))
	if err != nil {
		return err
	}
	d.Banner(env.Stdout, "http://"+ln.Addr().String())
	return srv.Run(ctx, ln, d.Config.Server.ShutdownGrace)
}
