#!/usr/bin/python3
"""Checks password hashes with real Django, for internal/authn's
TestGoHashesVerifyInDjango: reads [{"encoded", "password"}] as JSON on
stdin and writes [{"ok", "algorithm", "error"}] (check_password's answer,
identify_hasher's algorithm, the exception if Django raised) on stdout.
Every hasher is enabled (django_env.py), scrypt through Django 4.x's
ScryptPasswordHasher copied into django4_scrypt.py."""

import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in testdata
import django_env  # noqa: E402,F401  (configures settings first)
from django.contrib.auth.hashers import check_password, identify_hasher

out = []
for item in json.load(sys.stdin):
    res = {"ok": False, "algorithm": None, "error": None}
    try:
        res["algorithm"] = identify_hasher(item["encoded"]).algorithm
        res["ok"] = check_password(item["password"], item["encoded"])
    except Exception as e:  # noqa: BLE001 -- reported to the Go test
        res["error"] = "%s: %s" % (type(e).__name__, e)
    out.append(res)
json.dump(out, sys.stdout)
