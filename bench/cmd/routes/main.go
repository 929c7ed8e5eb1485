// Command routes writes the 1,000-route table of the authz scale benchmark
// (internal/authz/scale_bench_test.go, scaleRoute) as a policy data file,
// so that the gateway can be run with it: copy policies/ to a directory and
// overwrite its data.yaml with the output.
//
//	go run ./bench/cmd/routes -n 1000 > DIR/data.yaml
//
// The output is JSON, which is also YAML. Route i (0 <= i < n-1) is, with
// app = i % 50:
//
//	matcher      i%10 in 0..6: prefix /appA/mI/, 7..8: glob /api/appA/mI/*/edit/,
//	             9: path /appA/mI/export
//	methods      i%3 = 0: none, 1: [GET, HEAD], 2: [GET, POST, PUT, PATCH, DELETE]
//	requirement  i%4 = 0: login, 1: permission appA.custom_mI,
//	             2: group groupG (G = i%50), 3: model appA.mI
//
// and the last route is a catch-all "prefix: /" that needs a login. The
// benchmark requests GET /app45/m995/123/: route 995, model app45.m995,
// which needs app45.view_m995.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
)

const (
	scaleGroups = 50
	scaleApps   = 50
)

// scaleRoute is internal/authz's scaleRoute, copied (test code cannot be
// imported).
func scaleRoute(i int) map[string]any {
	app := i % scaleApps
	r := map[string]any{}
	switch i % 10 {
	case 7, 8:
		r["glob"] = fmt.Sprintf("/api/app%d/m%d/*/edit/", app, i)
	case 9:
		r["path"] = fmt.Sprintf("/app%d/m%d/export", app, i)
	default:
		r["prefix"] = fmt.Sprintf("/app%d/m%d/", app, i)
	}
	switch i % 3 {
	case 1:
		r["methods"] = []string{"GET", "HEAD"}
	case 2:
		r["methods"] = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	}
	switch i % 4 {
	case 0:
		r["login"] = true
	case 1:
		r["permission"] = fmt.Sprintf("app%d.custom_m%d", app, i)
	case 2:
		r["group"] = fmt.Sprintf("group%d", i%scaleGroups)
	case 3:
		r["model"] = fmt.Sprintf("app%d.m%d", app, i)
	}
	return r
}

func main() {
	n := flag.Int("n", 1000, "number of routes, the catch-all included")
	flag.Parse()
	if *n < 1 {
		log.Fatal("routes: -n must be at least 1")
	}
	routes := make([]map[string]any, 0, *n)
	for i := range *n - 1 {
		routes = append(routes, scaleRoute(i))
	}
	routes = append(routes, map[string]any{"prefix": "/", "login": true})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(map[string]any{"gateway": map[string]any{"routes": routes}}); err != nil {
		log.Fatal(err)
	}
}
