package gateway.authz_test

import data.gateway.authz

# ---------------------------------------------------------------------------
# Profile rules: /reports/departments/<department>/ is for that department
# (policies/authz.rego, profile_denials), on top of route 4's permission.
# ---------------------------------------------------------------------------

# req_parsed is req with parsed_path, as the gateway builds it: the path's
# segments, percent-decoded.
req_parsed(method, path, segments) := object.union(req(method, path), {"parsed_path": segments})

decide_parsed(user, method, path, segments) := d if {
	d := authz.decision with input as {"user": user, "request": req_parsed(method, path, segments)}
}

sales_alice := object.union(alice, {"profile": {"department": "sales", "level": 3, "contractor": false}})

ops_alice := object.union(alice, {"profile": {"department": "ops"}})

sales_bob := object.union(bob, {"profile": {"department": "sales"}})

sales_root := object.union(root, {"profile": {"department": "sales"}})

test_department_reports[name] if {
	some name, tc in {
		"own department": {"user": sales_alice, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": true},
		"own department, deeper": {"user": sales_alice, "path": "/reports/departments/sales/2024/q1.pdf", "segments": ["reports", "departments", "sales", "2024", "q1.pdf"], "allow": true},
		"own department, no trailing slash": {"user": sales_alice, "path": "/reports/departments/sales", "segments": ["reports", "departments", "sales"], "allow": true},
		"other department": {"user": ops_alice, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"no profile at all": {"user": alice, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"empty profile": {"user": object.union(alice, {"profile": {}}), "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"department of another type": {"user": object.union(alice, {"profile": {"department": ["sales"]}}), "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"case matters": {"user": sales_alice, "path": "/reports/departments/Sales/", "segments": ["reports", "departments", "Sales", ""], "allow": false},
		"percent-encoded department is decoded": {"user": object.union(alice, {"profile": {"department": "r&d"}}), "path": "/reports/departments/r%26d/", "segments": ["reports", "departments", "r&d", ""], "allow": true},
		"an encoded slash stays in the segment": {"user": sales_alice, "path": "/reports/departments/sales%2Fops/", "segments": ["reports", "departments", "sales/ops", ""], "allow": false},
		"the department without the permission": {"user": sales_bob, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"superuser of the department": {"user": sales_root, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": true},
		"superuser of no department": {"user": root, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
		"the departments index is not restricted": {"user": alice, "path": "/reports/departments/", "segments": ["reports", "departments", ""], "allow": true},
		"other reports are not restricted": {"user": ops_alice, "path": "/reports/q1/", "segments": ["reports", "q1", ""], "allow": true},
		"anonymous": {"user": anonymous, "path": "/reports/departments/sales/", "segments": ["reports", "departments", "sales", ""], "allow": false},
	}
	decide_parsed(tc.user, "GET", tc.path, tc.segments).allow == tc.allow
}

test_department_reports_reason if {
	d := decide_parsed(ops_alice, "GET", "/reports/departments/sales/", ["reports", "departments", "sales", ""])
	d.reason == `route 4 (prefix /reports/): has reports.view_report; denied by profile rule: reports of department "sales" are for members of that department only`
}

test_profile_rules_never_allow if {
	# A matching department does not open a route the table denies.
	d := decide_parsed(sales_bob, "GET", "/reports/departments/sales/", ["reports", "departments", "sales", ""])
	d.allow == false
	d.reason == "route 4 (prefix /reports/): missing permission reports.view_report"
}

test_profile_values_keep_their_types if {
	sales_alice.profile.level == 3
	sales_alice.profile.contractor == false
}
