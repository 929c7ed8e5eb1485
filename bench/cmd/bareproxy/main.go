// Command bareproxy is the benchmark's baseline: net/http/httputil's
// ReverseProxy with a Rewrite that sets the target URL and the
// X-Forwarded-* headers, and nothing else: no authentication, no policy,
// no header filtering, no logging.
//
// The one setting changed from Go's defaults is the transport's idle pool
// (-max-idle-per-host, default 256, the value the gateway's proxy uses):
// with Go's default of 2, 32 concurrent clients would make the baseline
// close and redial most upstream connections, and the ratios would measure
// that instead of the gateway. -max-idle-per-host 2 restores Go's default.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9000", "upstream base URL")
	idle := flag.Int("max-idle-per-host", 256, "idle upstream connections kept (Go's default is 2)")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *idle
	tr.MaxIdleConns = *idle
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: tr,
	}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
