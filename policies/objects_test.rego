package gateway.authz_objects_test

import data.gateway.authz

# ---------------------------------------------------------------------------
# Fixtures
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

# A writer who may read posts but holds no change/delete permission.
wendy := object.union(anonymous, {
	"is_authenticated": true,
	"is_anonymous": false,
	"username": "wendy",
	"is_active": true,
	"permissions": {"blog.view_post"},
	"backend": "session",
})

inactive_wendy := object.union(wendy, {"is_active": false})

# Another writer, same permissions, owns nothing.
walt := object.union(wendy, {"username": "walt"})

changer := object.union(walt, {"username": "carl", "permissions": {"blog.view_post", "blog.change_post"}})

deleter := object.union(walt, {"username": "dora", "permissions": {"blog.delete_post"}})

root := object.union(walt, {"username": "root", "is_superuser": true, "permissions": set()})

inactive_root := object.union(root, {"is_active": false})

# The object data the tests use; odd keys exist to show that the id check,
# not missing data, keeps them out.
objects := {"blog": {"post": {
	"3": {"author": "wendy"},
	"4": {"author": "walt"},
	"3/4": {"author": "wendy"},
	"..": {"author": "wendy"},
	".": {"author": "wendy"},
	"03": {"author": "wendy"},
	"-3": {"author": "wendy"},
	"3.0": {"author": "wendy"},
	" 3": {"author": "wendy"},
	"": {"author": "wendy"},
	"7": {"author": ""},
	"8": {"author": null},
	"9": {},
}}}

# path is the canonical (encoded) path, segments the decoded parsed_path.
req(method, path, segments) := {
	"method": method,
	"path": path,
	"parsed_path": segments,
	"host": "example.com",
	"scheme": "https",
	"headers": {},
}

post_path(id) := sprintf("/api/blog/post/%s/", [id])

post_segments(id) := ["api", "blog", "post", id, ""]

decide(user, method, id) := d if {
	d := authz.decision with input as {"user": user, "request": req(method, post_path(id), post_segments(id))}
		with data.gateway.objects as objects
}

route7 := "route 7 (prefix /api/blog/post/)"

# ---------------------------------------------------------------------------
# The author, other users, superusers
# ---------------------------------------------------------------------------

test_author_edits_own_post[method] if {
	some method in ["PUT", "PATCH", "DELETE"]
	d := decide(wendy, method, "3")
	d.allow == true
	perm := {"PUT": "blog.change_post", "PATCH": "blog.change_post", "DELETE": "blog.delete_post"}[method]
	d.reason == sprintf("%s: object rule: author of blog.post 3 (route alone: missing permission %s)", [route7, perm])
}

# The rule grants change/delete only: other methods keep the model rule.
test_author_other_methods_unchanged[name] if {
	some name, tc in {
		"GET with view_post": {"user": wendy, "method": "GET", "allow": true},
		"GET without view_post": {"user": object.union(wendy, {"permissions": set()}), "method": "GET", "allow": false},
		"POST needs add_post": {"user": wendy, "method": "POST", "allow": false},
		"OPTIONS is never a model method": {"user": wendy, "method": "OPTIONS", "allow": false},
		"lower-case put is not PUT": {"user": wendy, "method": "put", "allow": false},
	}
	decide(tc.user, tc.method, "3").allow == tc.allow
}

test_other_users[name] if {
	some name, tc in {
		"other writer, PUT": {"user": walt, "method": "PUT", "allow": false, "reason": "missing permission blog.change_post"},
		"other writer, DELETE": {"user": walt, "method": "DELETE", "allow": false, "reason": "missing permission blog.delete_post"},
		"change_post holder, PUT": {"user": changer, "method": "PUT", "allow": true, "reason": "has blog.change_post"},
		"change_post holder, DELETE": {"user": changer, "method": "DELETE", "allow": false, "reason": "missing permission blog.delete_post"},
		"delete_post holder, DELETE": {"user": deleter, "method": "DELETE", "allow": true, "reason": "has blog.delete_post"},
		"superuser, PUT": {"user": root, "method": "PUT", "allow": true, "reason": "has blog.change_post"},
		"superuser, DELETE": {"user": root, "method": "DELETE", "allow": true, "reason": "has blog.delete_post"},
		"inactive superuser": {"user": inactive_root, "method": "PUT", "allow": false, "reason": "user is inactive"},
		"inactive author": {"user": inactive_wendy, "method": "PUT", "allow": false, "reason": "user is inactive"},
		"anonymous": {"user": anonymous, "method": "PUT", "allow": false, "reason": "login required"},
		# A hand-made input: the username alone never counts.
		"anonymous named like the author": {"user": object.union(anonymous, {"username": "wendy"}), "method": "PUT", "allow": false, "reason": "login required"},
		"active flag without authentication": {"user": object.union(anonymous, {"username": "wendy", "is_active": true}), "method": "PUT", "allow": false, "reason": "login required"},
	}
	d := decide(tc.user, tc.method, "3")
	d.allow == tc.allow
	d.reason == sprintf("%s: %s", [route7, tc.reason])
}

# A per-object grant never leaks to another object.
test_grant_is_per_object[name] if {
	some name, tc in {
		"author of 3 on 4": {"user": wendy, "id": "4", "allow": false},
		"author of 4 on 4": {"user": walt, "id": "4", "allow": true},
		"author of 4 on 3": {"user": walt, "id": "3", "allow": false},
	}
	decide(tc.user, "PUT", tc.id).allow == tc.allow
}

# An unknown post, or one without a usable author, falls back to the model
# permission only.
test_unknown_or_ownerless_post_model_permission_only[id] if {
	some id in ["1", "12", "7", "8", "9"]
	d := decide(wendy, "PUT", id)
	d == {"allow": false, "reason": sprintf("%s: missing permission blog.change_post", [route7])}
	decide(changer, "PUT", id).allow
}

test_no_object_data_at_all if {
	d := authz.decision with input as {"user": wendy, "request": req("PUT", post_path("3"), post_segments("3"))}
		with data.gateway.objects as {}
	d.allow == false
}

# ---------------------------------------------------------------------------
# Ids and parsed_path edge cases. The gateway rejects encoded slashes and
# resolves dot segments before the policy runs; the rule doesn't rely on it.
# ---------------------------------------------------------------------------

test_ids_that_are_not_ids_never_match[name] if {
	some name, tc in {
		"encoded slash": {"path": "/api/blog/post/3%2F4/", "segments": ["api", "blog", "post", "3/4", ""]},
		"dot dot": {"path": "/api/blog/post/../", "segments": ["api", "blog", "post", "..", ""]},
		"encoded dot dot": {"path": "/api/blog/post/%2E%2E/", "segments": ["api", "blog", "post", "..", ""]},
		"dot": {"path": "/api/blog/post/./", "segments": ["api", "blog", "post", ".", ""]},
		"leading zero": {"path": "/api/blog/post/03/", "segments": ["api", "blog", "post", "03", ""]},
		"negative": {"path": "/api/blog/post/-3/", "segments": ["api", "blog", "post", "-3", ""]},
		"decimal": {"path": "/api/blog/post/3.0/", "segments": ["api", "blog", "post", "3.0", ""]},
		"space": {"path": "/api/blog/post/%203/", "segments": ["api", "blog", "post", " 3", ""]},
		"empty": {"path": "/api/blog/post//", "segments": ["api", "blog", "post", "", ""]},
		"no trailing slash": {"path": "/api/blog/post/3", "segments": ["api", "blog", "post", "3"]},
		"sub-resource": {"path": "/api/blog/post/3/edit/", "segments": ["api", "blog", "post", "3", "edit", ""]},
		"path and parsed_path disagree": {"path": "/api/blog/post/4/", "segments": ["api", "blog", "post", "3", ""]},
		"other prefix": {"path": "/x/api/blog/post/3/", "segments": ["x", "api", "blog", "post", "3", ""]},
		"no parsed_path": {"path": "/api/blog/post/3/", "segments": null},
	}
	inp := {"user": wendy, "request": req("PUT", tc.path, tc.segments)}
	count(authz.object_grants) == 0 with input as inp with data.gateway.objects as objects
	not authz.post_id with input as inp
	d := authz.decision with input as inp with data.gateway.objects as objects
	not contains(d.reason, "object rule")
	denied_on_model_route(d)
}

# Under /api/blog/post/ wendy needs blog.change_post; elsewhere the catch-all
# (login) decides, as without the rule.
denied_on_model_route(d) if d.allow == false

denied_on_model_route(d) if d.reason == "route 8 (prefix /): logged in"

# ---------------------------------------------------------------------------
# The rule cannot change other routes
# ---------------------------------------------------------------------------

# Even with a grant for every model and action, only deciding `model:` routes
# that deny an active user can change: every other decision is the same.
test_grants_cannot_change_other_routes[name] if {
	everything := {{"model": m, "action": a, "reason": "mock"} |
		some m in ["blog.post", "reports.report"]
		some a in ["view", "add", "change", "delete"]
	}
	some name, tc in {
		"reports": {"user": walt, "path": "/reports/"},
		"editors": {"user": walt, "path": "/editors/"},
		"admin": {"user": walt, "path": "/admin/"},
		"account, anonymous": {"user": anonymous, "path": "/account/"},
		"catch-all, anonymous": {"user": anonymous, "path": "/elsewhere/"},
		"catch-all, inactive": {"user": inactive_wendy, "path": "/elsewhere/"},
		"model route, anonymous": {"user": anonymous, "path": "/api/blog/post/3/"},
		"model route, inactive": {"user": inactive_wendy, "path": "/api/blog/post/3/"},
	}
	some method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
	inp := {"user": tc.user, "request": req(method, tc.path, null)}
	plain := authz.decision with input as inp
	widened := authz.decision with input as inp with authz.object_grants as everything
	plain == widened
}

# First match wins: when an earlier route decides, the object rule is not
# consulted, even on the object's path.
test_first_match_wins_over_object_rule[name] if {
	some name, routes in {
		"earlier staff route": [
			{"glob": "/api/blog/post/*/", "methods": ["DELETE"], "staff": true},
			{"prefix": "/api/blog/post/", "model": "blog.post"},
		],
		"permission route instead of model": [{"prefix": "/api/blog/post/", "permission": "blog.change_post"}],
		"login route instead of model": [{"prefix": "/api/blog/post/", "group": "editors"}],
		"model route of another model": [{"prefix": "/api/", "model": "blog.comment"}],
	}
	d := decide(wendy, "DELETE", "3") with data.gateway.routes as routes
	d.allow == false
	not contains(d.reason, "object rule")
}

# The rule applies wherever the deciding model route is in the table.
test_object_rule_with_glob_route if {
	routes := [{"glob": "/api/blog/post/*/", "model": "blog.post"}]
	d := decide(wendy, "PATCH", "3") with data.gateway.routes as routes
	d.reason == "route 0 (glob /api/blog/post/*/): object rule: author of blog.post 3 (route alone: missing permission blog.change_post)"
}

# Several grants for one request: one decision, no conflict.
test_several_grants_one_decision if {
	two := {
		{"model": "blog.post", "action": "change", "reason": "b"},
		{"model": "blog.post", "action": "change", "reason": "a"},
	}
	d := decide(walt, "PUT", "3") with authz.object_grants as two
	d.reason == sprintf("%s: object rule: a (route alone: missing permission blog.change_post)", [route7])
}

# ---------------------------------------------------------------------------
# The shipped example data (policies/objects.yaml)
# ---------------------------------------------------------------------------

test_shipped_example_objects[name] if {
	writer := object.union(wendy, {"permissions": {"blog.view_post"}})
	some name, tc in {
		"alice edits post 3": {"username": "alice", "id": "3", "allow": true},
		"alice cannot edit post 5": {"username": "alice", "id": "5", "allow": false},
		"bob edits post 5": {"username": "bob", "id": "5", "allow": true},
		"bob cannot edit post 3": {"username": "bob", "id": "3", "allow": false},
		"nobody owns post 1": {"username": "alice", "id": "1", "allow": false},
	}
	user := object.union(writer, {"username": tc.username})
	d := authz.decision with input as {"user": user, "request": req("PUT", post_path(tc.id), post_segments(tc.id))}
	d.allow == tc.allow
}
