package gateway.authz_test

import data.gateway.authz

# ---------------------------------------------------------------------------
# Fixtures: users shaped like the gateway's input.user
# ---------------------------------------------------------------------------

anonymous := {
	"is_authenticated": false,
	"is_anonymous": true,
	"username": "",
	"email": "",
	"first_name": "",
	"last_name": "",
	"is_active": false,
	"is_staff": false,
	"is_superuser": false,
	"groups": [],
	"permissions": set(),
	"backend": "",
}

bob := {
	"is_authenticated": true,
	"is_anonymous": false,
	"username": "bob",
	"email": "bob@example.com",
	"first_name": "Bob",
	"last_name": "",
	"is_active": true,
	"is_staff": false,
	"is_superuser": false,
	"groups": [],
	"permissions": set(),
	"backend": "session",
}

# An editor who may read reports and change (but not delete) blog posts.
alice := object.union(bob, {
	"username": "alice",
	"groups": ["editors"],
	"permissions": {
		"blog.view_post", "blog.add_post", "blog.change_post",
		"reports.view_report",
	},
})

inactive_alice := object.union(alice, {"is_active": false})

staff := object.union(bob, {"username": "sam", "is_staff": true})

inactive_staff := object.union(staff, {"is_active": false})

root := object.union(bob, {"username": "root", "is_superuser": true})

inactive_root := object.union(root, {"is_active": false})

req(method, path) := {
	"method": method,
	"path": path,
	"host": "example.com",
	"scheme": "https",
	"headers": {},
}

decide(user, method, path) := d if {
	d := authz.decision with input as {"user": user, "request": req(method, path)}
}

# ---------------------------------------------------------------------------
# The shipped route table (policies/data.yaml)
# ---------------------------------------------------------------------------

test_shipped_routes_are_valid if {
	count(authz.config_errors) == 0
}

test_shipped_routes[name] if {
	some name, tc in {
		# route 0: path / public
		"home, anonymous": {"user": anonymous, "method": "GET", "path": "/", "allow": true},
		"home, inactive user": {"user": inactive_alice, "method": "GET", "path": "/", "allow": true},
		# route 1, 2: prefixes /static/ and /public/ public
		"static, anonymous": {"user": anonymous, "method": "GET", "path": "/static/app.css", "allow": true},
		"public, anonymous, POST": {"user": anonymous, "method": "POST", "path": "/public/contact/", "allow": true},
		"prefix needs the slash": {"user": anonymous, "method": "GET", "path": "/publicity/", "allow": false},
		# route 3: /account/ login
		"account, anonymous": {"user": anonymous, "method": "GET", "path": "/account/", "allow": false},
		"account, user": {"user": bob, "method": "GET", "path": "/account/", "allow": true},
		"account, inactive user": {"user": inactive_alice, "method": "GET", "path": "/account/", "allow": false},
		# route 4: /reports/ permission reports.view_report
		"reports, with the permission": {"user": alice, "method": "GET", "path": "/reports/q1/", "allow": true},
		"reports, without the permission": {"user": bob, "method": "GET", "path": "/reports/q1/", "allow": false},
		"reports, superuser": {"user": root, "method": "GET", "path": "/reports/q1/", "allow": true},
		"reports, inactive superuser": {"user": inactive_root, "method": "GET", "path": "/reports/q1/", "allow": false},
		"reports, anonymous": {"user": anonymous, "method": "GET", "path": "/reports/", "allow": false},
		# route 5: /editors/ group editors
		"editors, member": {"user": alice, "method": "GET", "path": "/editors/", "allow": true},
		"editors, not a member": {"user": bob, "method": "GET", "path": "/editors/", "allow": false},
		"editors, superuser not in the group": {"user": root, "method": "GET", "path": "/editors/", "allow": false},
		"editors, inactive member": {"user": inactive_alice, "method": "GET", "path": "/editors/", "allow": false},
		# route 6: /admin/ staff
		"admin, staff": {"user": staff, "method": "GET", "path": "/admin/", "allow": true},
		"admin, inactive staff": {"user": inactive_staff, "method": "GET", "path": "/admin/", "allow": false},
		"admin, superuser without is_staff": {"user": root, "method": "GET", "path": "/admin/", "allow": false},
		"admin, plain user": {"user": alice, "method": "GET", "path": "/admin/", "allow": false},
		# route 7: /api/blog/post/ model blog.post
		"model GET with view": {"user": alice, "method": "GET", "path": "/api/blog/post/1/", "allow": true},
		"model DELETE without delete": {"user": alice, "method": "DELETE", "path": "/api/blog/post/1/", "allow": false},
		"model DELETE, superuser": {"user": root, "method": "DELETE", "path": "/api/blog/post/1/", "allow": true},
		"model GET, anonymous": {"user": anonymous, "method": "GET", "path": "/api/blog/post/", "allow": false},
		# route 8: catch-all prefix / login
		"catch-all, anonymous": {"user": anonymous, "method": "GET", "path": "/elsewhere", "allow": false},
		"catch-all, user": {"user": bob, "method": "GET", "path": "/elsewhere", "allow": true},
	}
	decide(tc.user, tc.method, tc.path).allow == tc.allow
}

test_shipped_reasons[name] if {
	some name, tc in {
		"public": {"user": anonymous, "path": "/", "reason": "route 0 (path /): public"},
		"login required": {"user": anonymous, "path": "/account/", "reason": "route 3 (prefix /account/): login required"},
		"inactive": {"user": inactive_alice, "path": "/account/x", "reason": "route 3 (prefix /account/): user is inactive"},
		"missing permission": {"user": bob, "path": "/reports/", "reason": "route 4 (prefix /reports/): missing permission reports.view_report"},
		"group": {"user": bob, "path": "/editors/", "reason": "route 5 (prefix /editors/): not a member of editors"},
		"staff": {"user": alice, "path": "/admin/", "reason": "route 6 (prefix /admin/): staff only"},
		"catch-all": {"user": bob, "path": "/x", "reason": "route 8 (prefix /): logged in"},
	}
	decide(tc.user, "GET", tc.path).reason == tc.reason
}

# ---------------------------------------------------------------------------
# Matching: first match wins, matchers, methods, no match
# ---------------------------------------------------------------------------

test_first_match_wins if {
	routes := [
		{"prefix": "/docs/", "login": true},
		{"prefix": "/docs/public/", "public": true}, # shadowed by route 0
	]
	d := decide(anonymous, "GET", "/docs/public/x") with data.gateway.routes as routes
	d.allow == false
	d.reason == "route 0 (prefix /docs/): login required"
}

test_first_match_wins_specific_first if {
	routes := [
		{"prefix": "/docs/public/", "public": true},
		{"prefix": "/docs/", "login": true},
	]
	decide(anonymous, "GET", "/docs/public/x").allow with data.gateway.routes as routes
	not decide(anonymous, "GET", "/docs/private/x").allow with data.gateway.routes as routes
}

test_no_route_matches[name] if {
	some name, tc in {
		"empty table": {"routes": [], "path": "/"},
		"nothing matches": {"routes": [{"path": "/a", "public": true}], "path": "/b"},
		"exact path is exact": {"routes": [{"path": "/a", "public": true}], "path": "/a/"},
	}
	d := decide(root, "GET", tc.path) with data.gateway.routes as tc.routes
	d == {"allow": false, "reason": "no route matches"}
}

test_malformed_route_data_denies if {
	d := decide(root, "GET", "/") with data.gateway.routes as null
	d == {"allow": false, "reason": "no route matches"}
	"data.gateway.routes must be a list of routes" in authz.config_errors with data.gateway.routes as null
}

test_decision_without_input if {
	d := authz.decision with input as {}
	d.allow == false
}

test_matchers[name] if {
	routes := [
		{"path": "/exact", "public": true},
		{"prefix": "/pre/", "public": true},
		{"glob": "/api/*/items/", "public": true},
		{"glob": "/files/**", "public": true},
	]
	some name, tc in {
		"path, equal": {"path": "/exact", "allow": true},
		"path, longer": {"path": "/exact/more", "allow": false},
		"prefix, itself": {"path": "/pre/", "allow": true},
		"prefix, below": {"path": "/pre/a/b", "allow": true},
		"prefix, no slash": {"path": "/pre", "allow": false},
		"glob, one segment": {"path": "/api/v1/items/", "allow": true},
		"glob, star is one segment only": {"path": "/api/v1/v2/items/", "allow": false},
		"glob, star needs a segment": {"path": "/api/items/", "allow": false},
		"glob, whole path": {"path": "/api/v1/items/x", "allow": false},
		"glob, double star": {"path": "/files/a/b/c", "allow": true},
		"percent-encoded path is matched as is": {"path": "/api/a%2Fb/items/", "allow": true},
	}
	decide(anonymous, "GET", tc.path).allow == tc.allow with data.gateway.routes as routes
}

test_methods_fall_through[name] if {
	routes := [
		{"prefix": "/api/", "methods": ["GET", "HEAD"], "public": true},
		{"prefix": "/api/", "staff": true},
	]
	some name, tc in {
		"GET matches route 0": {"method": "GET", "allow": true, "reason": "route 0 (prefix /api/): public"},
		"HEAD matches route 0": {"method": "HEAD", "allow": true, "reason": "route 0 (prefix /api/): public"},
		"POST falls through to route 1": {"method": "POST", "allow": false, "reason": "route 1 (prefix /api/): login required"},
	}
	d := decide(anonymous, tc.method, "/api/x") with data.gateway.routes as routes
	d.allow == tc.allow
	d.reason == tc.reason
}

test_methods_without_fallback if {
	routes := [{"path": "/form", "methods": ["GET"], "public": true}]
	d := decide(root, "POST", "/form") with data.gateway.routes as routes
	d == {"allow": false, "reason": "no route matches"}
}

# ---------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------

test_permission_list_requires_all[name] if {
	routes := [{"prefix": "/", "permission": ["blog.view_post", "blog.delete_post"]}]
	some name, tc in {
		"one of two": {"user": alice, "allow": false, "reason": "route 0 (prefix /): missing permission blog.delete_post"},
		"both": {"user": object.union(alice, {"permissions": {"blog.view_post", "blog.delete_post"}}), "allow": true, "reason": "route 0 (prefix /): has blog.view_post, blog.delete_post"},
		"superuser": {"user": root, "allow": true, "reason": "route 0 (prefix /): has blog.view_post, blog.delete_post"},
		"none": {"user": bob, "allow": false, "reason": "route 0 (prefix /): missing permission blog.view_post, blog.delete_post"},
	}
	d := decide(tc.user, "GET", "/x") with data.gateway.routes as routes
	d.allow == tc.allow
	d.reason == tc.reason
}

# An empty permission list is a config error; should it be evaluated anyway
# it denies rather than letting everyone in.
test_empty_permission_list_denies if {
	routes := [{"prefix": "/", "permission": []}]
	d := decide(alice, "GET", "/x") with data.gateway.routes as routes
	d.allow == false
}

test_group_list_requires_any[name] if {
	routes := [{"prefix": "/", "group": ["admins", "editors"]}]
	some name, tc in {
		"member of one": {"user": alice, "allow": true, "reason": "route 0 (prefix /): member of editors"},
		"member of none": {"user": bob, "allow": false, "reason": "route 0 (prefix /): not a member of admins or editors"},
		"inactive member": {"user": inactive_alice, "allow": false, "reason": "route 0 (prefix /): user is inactive"},
		"superuser not a member": {"user": root, "allow": false, "reason": "route 0 (prefix /): not a member of admins or editors"},
		"anonymous": {"user": anonymous, "allow": false, "reason": "route 0 (prefix /): login required"},
	}
	d := decide(tc.user, "GET", "/x") with data.gateway.routes as routes
	d.allow == tc.allow
	d.reason == tc.reason
}

test_public_allows_everyone[name] if {
	some name, user in {
		"anonymous": anonymous,
		"inactive": inactive_alice,
		"user": bob,
	}
	decide(user, "DELETE", "/public/x").allow
}

test_model_method_mapping[name] if {
	routes := [{"glob": "/api/blog/post/*/", "model": "blog.post"}]
	some name, tc in {
		"GET needs view": {"method": "GET", "perm": "blog.view_post"},
		"HEAD needs view": {"method": "HEAD", "perm": "blog.view_post"},
		"POST needs add": {"method": "POST", "perm": "blog.add_post"},
		"PUT needs change": {"method": "PUT", "perm": "blog.change_post"},
		"PATCH needs change": {"method": "PATCH", "perm": "blog.change_post"},
		"DELETE needs delete": {"method": "DELETE", "perm": "blog.delete_post"},
	}

	# allowed with exactly that permission ...
	with_perm := object.union(bob, {"permissions": {tc.perm}})
	d := decide(with_perm, tc.method, "/api/blog/post/7/") with data.gateway.routes as routes
	d.allow == true
	d.reason == sprintf("route 0 (glob /api/blog/post/*/): has %s", [tc.perm])

	# ... and denied with every other model permission.
	others := {"blog.view_post", "blog.add_post", "blog.change_post", "blog.delete_post"} - {tc.perm}
	without := object.union(bob, {"permissions": others})
	d2 := decide(without, tc.method, "/api/blog/post/7/") with data.gateway.routes as routes
	d2.allow == false
	d2.reason == sprintf("route 0 (glob /api/blog/post/*/): missing permission %s", [tc.perm])
}

test_model_other_methods_denied if {
	d := decide(root, "OPTIONS", "/api/blog/post/1/")
	d.allow == false
	d.reason == "route 7 (prefix /api/blog/post/): method OPTIONS is not allowed on model blog.post (GET, HEAD, POST, PUT, PATCH, DELETE are)"
}

# Non-standard methods match only routes that list them: no route of the
# shipped table does, so they are denied everywhere, even for a superuser
# and on public routes.
test_nonstandard_methods_match_no_route[name] if {
	some name, tc in {
		"TRACE, superuser": {"user": root, "method": "TRACE", "path": "/api/blog/post/1/"},
		"CONNECT, anonymous": {"user": anonymous, "method": "CONNECT", "path": "/api/blog/post/1/"},
		"lower-case get is not GET": {"user": root, "method": "get", "path": "/api/blog/post/1/"},
		"PROPFIND on a public route": {"user": root, "method": "PROPFIND", "path": "/public/x"},
		"lower-case get on a public route": {"user": anonymous, "method": "get", "path": "/public/x"},
		"TRACE on the home page": {"user": anonymous, "method": "TRACE", "path": "/"},
	}
	d := decide(tc.user, tc.method, tc.path)
	d.allow == false
	d.reason == "no route matches"
}

# A route that lists a non-standard method allows it (and only what it lists).
test_listed_nonstandard_method_matches[name] if {
	routes := [{"prefix": "/dav/", "methods": ["PROPFIND", "GET"], "login": true}, {"prefix": "/", "public": true}]
	some name, tc in {
		"listed": {"method": "PROPFIND", "allow": true},
		"listed standard": {"method": "GET", "allow": true},
		"not listed falls through to the public route": {"method": "POST", "allow": true},
		"unlisted non-standard": {"method": "MKCOL", "allow": false},
	}
	d := decide(root, tc.method, "/dav/x") with data.gateway.routes as routes
	d.allow == tc.allow
}

# ---------------------------------------------------------------------------
# config_errors
# ---------------------------------------------------------------------------

test_config_errors_valid_table if {
	routes := [
		{"path": "/", "public": true},
		{"prefix": "/a/", "methods": ["GET", "HEAD"], "login": true},
		{"glob": "/b/*/c", "staff": true},
		{"prefix": "/d/", "permission": "app.codename"},
		{"prefix": "/e/", "permission": ["app.one", "app.two"]},
		{"prefix": "/f/", "group": "editors"},
		{"prefix": "/g/", "group": ["editors", "writers"]},
		{"prefix": "/h/", "model": "blog.post"},
	]
	count(authz.config_errors) == 0 with data.gateway.routes as routes
}

test_config_errors[name] if {
	some name, tc in {
		"routes is not a list": {
			"routes": {"path": "/", "public": true},
			"want": "data.gateway.routes must be a list of routes",
		},
		"route is not a mapping": {
			"routes": ["/"],
			"want": `route 0: must be a mapping (path/prefix/glob, optional methods, one requirement), got /`,
		},
		"no matcher": {
			"routes": [{"public": true}],
			"want": "route 0: needs exactly one matcher of path, prefix, glob; found 0",
		},
		"several matchers": {
			"routes": [{"path": "/", "public": true}, {"path": "/a", "prefix": "/a/", "public": true}],
			"want": "route 1: needs exactly one matcher of path, prefix, glob; found 2 (path, prefix)",
		},
		"no requirement": {
			"routes": [{"path": "/"}],
			"want": "route 0: needs exactly one requirement of public, login, staff, permission, group, model; found 0",
		},
		"several requirements": {
			"routes": [{"path": "/", "login": true, "staff": true}],
			"want": "route 0: needs exactly one requirement of public, login, staff, permission, group, model; found 2 (login, staff)",
		},
		"unknown key": {
			"routes": [{"path": "/", "public": true, "method": ["GET"]}],
			"want": `route 0: unknown key "method" (known: glob, group, login, methods, model, path, permission, prefix, public, staff)`,
		},
		"relative path": {
			"routes": [{"prefix": "static/", "public": true}],
			"want": `route 0: prefix must be a string starting with "/", got static/`,
		},
		"non-string path": {
			"routes": [{"path": 1, "public": true}],
			"want": `route 0: path must be a string starting with "/", got 1`,
		},
		"invalid glob": {
			"routes": [{"glob": "/a/[", "public": true}],
			"want": `route 0: invalid glob pattern "/a/["`,
		},
		"lower-case method": {
			"routes": [{"path": "/", "methods": ["GET", "post"], "public": true}],
			"want": "route 0: method post must be an upper-case HTTP method such as GET",
		},
		"methods not a list": {
			"routes": [{"path": "/", "methods": "GET", "public": true}],
			"want": "route 0: methods must be a non-empty list of upper-case HTTP methods such as [GET, HEAD], got GET",
		},
		"empty methods": {
			"routes": [{"path": "/", "methods": [], "public": true}],
			"want": "route 0: methods must be a non-empty list of upper-case HTTP methods such as [GET, HEAD], got []",
		},
		"public false": {
			"routes": [{"path": "/", "public": false}],
			"want": "route 0: public must be true, got false (remove the key and pick another requirement instead)",
		},
		"login as a string": {
			"routes": [{"path": "/", "login": "yes"}],
			"want": "route 0: login must be true, got yes (remove the key and pick another requirement instead)",
		},
		"malformed permission": {
			"routes": [{"path": "/", "permission": "view_report"}],
			"want": `route 0: malformed permission view_report (want "app_label.codename", e.g. "blog.change_post")`,
		},
		"malformed permission in a list": {
			"routes": [{"path": "/", "permission": ["reports.view_report", "a.b.c"]}],
			"want": `route 0: malformed permission a.b.c (want "app_label.codename", e.g. "blog.change_post")`,
		},
		"empty permission list": {
			"routes": [{"path": "/", "permission": []}],
			"want": `route 0: permission must be "app_label.codename" or a non-empty list of them, got []`,
		},
		"empty group list": {
			"routes": [{"path": "/", "group": []}],
			"want": "route 0: group must be a group name or a non-empty list of them, got []",
		},
		"empty group name": {
			"routes": [{"path": "/", "group": ["editors", ""]}],
			"want": "route 0: malformed group name  (want a non-empty string)",
		},
		"malformed model": {
			"routes": [{"path": "/", "model": "post"}],
			"want": `route 0: malformed model post (want "app_label.model" with the model name in lower case, e.g. "blog.post")`,
		},
		"upper-case model name": {
			"routes": [{"path": "/", "model": "blog.Post"}],
			"want": `route 0: malformed model blog.Post (want "app_label.model" with the model name in lower case, e.g. "blog.post")`,
		},
	}
	errs := authz.config_errors with data.gateway.routes as tc.routes
	tc.want in errs
}

# Every problem is reported, each naming its route.
test_config_errors_one_message_per_problem if {
	routes := [
		{"path": "/", "public": true},
		{"prefix": "/x/", "methods": ["get"], "permission": "nope"},
		{"glob": "/y/*", "pulbic": true},
	]
	errs := authz.config_errors with data.gateway.routes as routes
	errs == {
		"route 1: method get must be an upper-case HTTP method such as GET",
		`route 1: malformed permission nope (want "app_label.codename", e.g. "blog.change_post")`,
		"route 2: needs exactly one requirement of public, login, staff, permission, group, model; found 0",
		`route 2: unknown key "pulbic" (known: glob, group, login, methods, model, path, permission, prefix, public, staff)`,
	}
}

# ---------------------------------------------------------------------------
# Declared models (policies/models.yaml) and route warnings
# ---------------------------------------------------------------------------

test_shipped_routes_have_no_warnings if {
	count(authz.config_warnings) == 0
}

test_declared_permissions if {
	# Default permissions of a declared model, its custom ones, a model
	# with chosen default_permissions, and the built-in auth models.
	every p in {"blog.add_post", "blog.change_post", "blog.delete_post", "blog.view_post", "blog.can_publish", "reports.view_report", "auth.change_user", "auth.view_group", "contenttypes.view_contenttype"} {
		p in authz.declared_permissions
	}
	not "reports.add_report" in authz.declared_permissions
	not "blog.publish_post" in authz.declared_permissions
}

test_warning_for_undeclared_permission if {
	routes := [
		{"prefix": "/a/", "permission": ["blog.view_post", "blog.can_publsh"]},
		{"prefix": "/b/", "model": "shop.order"},
		{"prefix": "/c/", "model": "blog.comment"},
	]
	warnings := authz.config_warnings with data.gateway.routes as routes
	warnings == {
		"route 0: permission blog.can_publsh is not declared by any model in data.gateway.models; only superusers can hold it until it is declared or imported",
		"route 1: model shop.order is not declared in data.gateway.models; only superusers can hold its permissions until it is declared or imported",
	}
}

test_models_declared_with_with if {
	models := {"shop.order": {"default_permissions": ["view"], "permissions": {"refund_order": "Can refund"}}}
	perms := authz.declared_permissions with data.gateway.models as models
	"shop.view_order" in perms
	"shop.refund_order" in perms
	not "shop.add_order" in perms
	not "blog.add_post" in perms
}
