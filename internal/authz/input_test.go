package authz

import (
	"net/http"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

func TestBuildInputUser(t *testing.T) {
	anonymous := `{
		"is_authenticated": false, "is_anonymous": true,
		"username": "", "email": "", "first_name": "", "last_name": "",
		"is_active": false, "is_staff": false, "is_superuser": false,
		"groups": [], "permissions": set(), "backend": "", "profile": {}
	}`
	cases := []struct {
		name string
		p    *authn.Principal
		want string // a Rego term: sets are sets
	}{
		{"nil principal is anonymous", nil, anonymous},
		{"authn.Anonymous", authn.Anonymous, anonymous},
		{"a principal without a user is anonymous", &authn.Principal{Backend: "session", Groups: []string{"x"}, Permissions: []string{"a.b"}}, anonymous},
		{
			"authenticated user",
			&authn.Principal{
				User: &authn.User{
					ID: 7, Username: "alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell",
					Password: "pbkdf2_sha256$1$salt$hash", IsActive: true, IsStaff: true,
				},
				Groups:      []string{"writers", "editors"}, // sorted by the engine
				Permissions: []string{"blog.view_post", "blog.change_post"},
				Backend:     "session",
			},
			`{
				"is_authenticated": true, "is_anonymous": false,
				"username": "alice", "email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell",
				"is_active": true, "is_staff": true, "is_superuser": false,
				"groups": ["editors", "writers"],
				"permissions": {"blog.change_post", "blog.view_post"},
				"backend": "session", "profile": {}
			}`,
		},
		{
			"inactive superuser",
			&authn.Principal{User: &authn.User{Username: "root", IsSuperuser: true}, Backend: "session"},
			`{
				"is_authenticated": true, "is_anonymous": false,
				"username": "root", "email": "", "first_name": "", "last_name": "",
				"is_active": false, "is_staff": false, "is_superuser": true,
				"groups": [], "permissions": set(), "backend": "session", "profile": {}
			}`,
		},
		{
			"profile values keep their types",
			&authn.Principal{User: &authn.User{Username: "pat", IsActive: true}, Backend: "session", Profile: profile.Values{
				"department": "sales", "level": int64(3), "contractor": false,
				"tags": []string{"a", "b"}, "empty_tags": []string{},
				"hired": time.Date(2021, 3, 4, 5, 6, 7, 800_000_000, time.UTC),
			}},
			`{
				"is_authenticated": true, "is_anonymous": false,
				"username": "pat", "email": "", "first_name": "", "last_name": "",
				"is_active": true, "is_staff": false, "is_superuser": false,
				"groups": [], "permissions": set(), "backend": "session",
				"profile": {"department": "sales", "level": 3, "contractor": false,
					"tags": ["a", "b"], "empty_tags": [], "hired": "2021-03-04T05:06:07.8Z"}
			}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := buildInput(&Input{Principal: tc.p, Request: req("GET", "/")})
			if err != nil {
				t.Fatal(err)
			}
			got := v.(ast.Object).Get(ast.StringTerm("user"))
			want := ast.MustParseTerm(tc.want)
			if got.Value.Compare(want.Value) != 0 {
				t.Errorf("user =\n  %v\nwant\n  %v", got, want)
			}
		})
	}
}

func TestBuildInputRequest(t *testing.T) {
	base := Request{Method: "GET", Path: "/", Host: "example.com", Scheme: "https"}
	cases := []struct {
		name string
		mod  func(*Request)
		want map[string]string // request field -> Rego term
	}{
		{
			"root path",
			func(*Request) {},
			map[string]string{
				"method": `"GET"`, "path": `"/"`, "parsed_path": `[""]`,
				"host": `"example.com"`, "port": `""`, "scheme": `"https"`,
				"query": `""`, "parsed_query": `{}`, "query_malformed": `false`,
				"headers": `{}`, "client_ip": `""`, "upstream": `""`,
			},
		},
		{
			"segments, trailing slash",
			func(r *Request) { r.Path = "/api/blog/post/" },
			map[string]string{"parsed_path": `["api", "blog", "post", ""]`},
		},
		{
			"segments are percent-decoded after splitting",
			func(r *Request) { r.Path = "/files/a%20b/c%2Fd/%E2%82%AC" },
			map[string]string{"path": `"/files/a%20b/c%2Fd/%E2%82%AC"`, "parsed_path": `["files", "a b", "c/d", "€"]`},
		},
		{
			"host lower-cased, port split off",
			func(r *Request) { r.Host = "WWW.Example.COM:8443" },
			map[string]string{"host": `"www.example.com"`, "port": `"8443"`},
		},
		{
			"IPv6 host with port",
			func(r *Request) { r.Host = "[2001:DB8::1]:8080" },
			map[string]string{"host": `"2001:db8::1"`, "port": `"8080"`},
		},
		{
			"IPv6 host without port",
			func(r *Request) { r.Host = "[::1]" },
			map[string]string{"host": `"::1"`, "port": `""`},
		},
		{
			"query parsed, repeated values kept in order",
			func(r *Request) { r.Query = "page=2&tag=a&tag=b&empty=&q=a%20b" },
			map[string]string{
				"query":           `"page=2&tag=a&tag=b&empty=&q=a%20b"`,
				"parsed_query":    `{"page": ["2"], "tag": ["a", "b"], "empty": [""], "q": ["a b"]}`,
				"query_malformed": `false`,
			},
		},
		{
			"malformed query: empty parsed_query, flagged",
			func(r *Request) { r.Query = "a=1&b=%zz" },
			map[string]string{"query": `"a=1&b=%zz"`, "parsed_query": `{}`, "query_malformed": `true`},
		},
		{
			"semicolon in query is malformed (url.ParseQuery)",
			func(r *Request) { r.Query = "a=1;b=2" },
			map[string]string{"parsed_query": `{}`, "query_malformed": `true`},
		},
		{
			"headers: lower-case, joined, secrets omitted",
			func(r *Request) {
				r.Headers = http.Header{
					"Accept":              {"text/html"},
					"X-Custom":            {"a", "b"},
					"Cookie":              {"sessionid=secret"},
					"Authorization":       {"Bearer secret"},
					"Proxy-Authorization": {"Basic secret"},
					"cookie":              {"non-canonical=secret"},
					"x-lower":             {"kept"},
				}
			},
			map[string]string{"headers": `{"accept": "text/html", "x-custom": "a, b", "x-lower": "kept"}`},
		},
		{
			"client ip, upstream, method as given",
			func(r *Request) {
				r.ClientIP = "203.0.113.7"
				r.Upstream = "app"
				r.Method = "PROPFIND"
				r.Scheme = "HTTP"
			},
			map[string]string{"client_ip": `"203.0.113.7"`, "upstream": `"app"`, "method": `"PROPFIND"`, "scheme": `"http"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.mod(&r)
			v, err := buildInput(&Input{Request: r})
			if err != nil {
				t.Fatal(err)
			}
			got := v.(ast.Object).Get(ast.StringTerm("request")).Value.(ast.Object)
			if got.Len() != 12 {
				t.Errorf("request has %d fields, want 12: %v", got.Len(), got)
			}
			for field, want := range tc.want {
				g := got.Get(ast.StringTerm(field))
				w := ast.MustParseTerm(want)
				if g == nil || g.Value.Compare(w.Value) != 0 {
					t.Errorf("%s = %v, want %v", field, g, w)
				}
			}
		})
	}
}
