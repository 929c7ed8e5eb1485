package config

import "time"

// Ops configures the operations listener, kept apart from the traffic
// port so that it can be bound to a private address.
type Ops struct {
	// Listen is the address of the operations listener ("127.0.0.1:9090"),
	// serving /metrics (Prometheus), /healthz (the process is alive) and
	// /readyz (Redis answers and a policy is loaded). Empty: off.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiles under /debug/pprof/ on the operations
	// listener. Off by default: profiles reveal internals and cost CPU.
	Pprof bool `yaml:"pprof"`
}

// DefaultShutdownGrace is server.shutdown_grace's default.
const DefaultShutdownGrace = 15 * time.Second

func (v *validator) ops(c *Config) {
	o := &c.Ops
	if o.Listen != "" {
		if msg := checkHostPort(o.Listen, false, `"127.0.0.1:9090"`); msg != "" {
			v.add("ops.listen", "%s", msg)
		} else if o.Listen == c.Listen {
			v.add("ops.listen", "must differ from listen (%s): operations endpoints stay off the traffic port", c.Listen)
		}
	}
	if o.Pprof && o.Listen == "" {
		v.add("ops.pprof", "needs ops.listen: profiles are only served on the operations listener")
	}
}
