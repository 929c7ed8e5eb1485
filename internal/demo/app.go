// Package demo runs the quickstart: the gateway on an in-process,
// Redis-compatible store (miniredis — a demo store, not for production),
// in front of a small app that shows the identity headers it receives,
// with demo users whose passwords are printed at start.
package demo

import (
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// appPages are the demo app's pages; the default policy's route table
// gives each a different requirement.
var appPages = []struct{ Path, Title, Rule string }{
	{"/", "Home", "public"},
	{"/public/", "Public page", "public"},
	{"/account/", "Your account", "login required"},
	{"/reports/", "Reports", "permission reports.view_report"},
	{"/editors/", "Editors' desk", "group editors"},
	{"/admin/", "Admin", "staff only"},
	{"/api/blog/post/", "Blog posts API", "model blog.post (GET→view_post)"},
}

var appTemplate = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Demo app</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7fb;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header a{color:#cfe0ff}
main{max-width:52rem;margin:1.5rem auto;padding:0 1rem}
.card{background:#fff;border:1px solid #dde1ea;border-radius:.7rem;padding:1.2rem 1.4rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eef0f5;vertical-align:top;overflow-wrap:anywhere}
code{font-family:ui-monospace,monospace;font-size:.92em}.muted{color:#667085}
.anon{color:#b42318}.user{color:#067647}
</style></head><body>
<header><strong>Demo app</strong> <span>{{if .User}}signed in as <b>{{.User}}</b> · <a href="{{.Prefix}}/logout">sign out</a>{{else}}<a href="{{.Prefix}}/login?next={{.Path}}">sign in</a>{{end}} · <a href="{{.Prefix}}/me">/me</a></span></header>
<main>
<div class="card"><h1>{{.Title}}</h1>
<p>This page is served by the app behind the gateway. The gateway let this request through for
{{if .User}}<b class="user">{{.User}}</b>{{else}}<b class="anon">an anonymous visitor</b>{{end}}.</p></div>
<div class="card"><h2>Identity headers the app received</h2><table>
{{range .Identity}}<tr><th><code>{{.Name}}</code></th><td>{{if .Value}}<code>{{.Value}}</code>{{else}}<span class="muted">(absent)</span>{{end}}</td></tr>{{end}}
</table></div>
<div class="card"><h2>Pages and the policy rule guarding them</h2><table>
{{range .Pages}}<tr><td><a href="{{.Path}}">{{.Path}}</a></td><td>{{.Title}}</td><td class="muted">{{.Rule}}</td></tr>{{end}}
</table></div>
<div class="card"><h2>All request headers</h2><table>
{{range .Headers}}<tr><th><code>{{.Name}}</code></th><td><code>{{.Value}}</code></td></tr>{{end}}
</table><p class="muted">Request: <code>{{.Method}} {{.RequestURI}}</code></p></div>
</main></body></html>`))

type header struct{ Name, Value string }

// App is the demo upstream.
func App(prefix string, identityHeaders []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		title := "Page"
		for _, p := range appPages {
			if r.URL.Path == p.Path || (p.Path != "/" && strings.HasPrefix(r.URL.Path, p.Path)) {
				title = p.Title
			}
		}
		var ids, all []header
		for _, h := range identityHeaders {
			ids = append(ids, header{h, r.Header.Get(h)})
		}
		for name, vs := range r.Header {
			all = append(all, header{name, strings.Join(vs, ", ")})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = appTemplate.Execute(w, map[string]any{
			"Title": title, "User": r.Header.Get(identityHeaders[0]), "Prefix": prefix, "Path": r.URL.Path,
			"Identity": ids, "Pages": appPages, "Headers": all, "Method": r.Method, "RequestURI": r.RequestURI,
		})
	})
}
