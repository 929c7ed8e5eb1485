#!/usr/bin/env python3
"""Build internal/authn/common-passwords.txt.gz, the CommonPasswordValidator list.

Usage (from the repository root; needs python3 and npm, nothing else):

    apt-get install python3-django        # for Django's list, once
    python3 internal/authn/testdata/build_common_passwords.py

Sources and licenses
--------------------
1. Django's own list, django/contrib/auth/common-passwords.txt.gz, read from
   Debian's python3-django package (3:3.2.25, path below). It holds 19,727
   passwords: Royce Williams' "top 20,000 from the Have I Been Pwned corpus,
   lowercased and deduplicated" list (gist roycewilliams/281ce539...).
   Django is distributed under the BSD 3-Clause license
   (Copyright (c) Django Software Foundation and individual contributors).
   Newer Django (4.2 and later) ships a refreshed list from another of
   Royce Williams' gists; no copy of it is reachable from the build machines
   (no PyPI), so the 3.2 list is the base.
2. The top-up: the "passwords" frequency list of the npm package zxcvbn 4.4.2
   (lib/frequency_lists.js, 30,000 passwords ordered by frequency, derived by
   Dropbox from Xato's 10-million-password corpus), MIT license, Copyright (c)
   2012-2016 Dan Wheeler and Dropbox, Inc. It is fetched with `npm pack`
   through the npm registry and checked against the integrity hash below.

Processing: every entry is lower-cased and stripped with Python's
str.lower() and str.strip() (what CommonPasswordValidator.validate() does to
the password before the lookup), empty entries are dropped, duplicates are
dropped keeping the first occurrence, Django's entries come first in Django's
order, and zxcvbn's follow in frequency order until the list holds --target
passwords (default 20,000). The output is gzip (mtime 0, so the build is
reproducible), one password per line, "\n" line ends, no header.
"""

import argparse
import base64
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile

DJANGO_LIST = "/usr/lib/python3/dist-packages/django/contrib/auth/common-passwords.txt.gz"
ZXCVBN_SPEC = "zxcvbn@4.4.2"
ZXCVBN_INTEGRITY = (
    "sha512-Bq0B+ixT/DMyG8kgX2xWcI5jUvCwqrMxSFam7m0lAf78nf04hv6lNCsyLYdyYTrCVMqNDY/206K7eExYCeSyUQ=="
)
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "common-passwords.txt.gz")


def read_django(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def fetch_zxcvbn_tarball(tmp):
    out = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", tmp, ZXCVBN_SPEC],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    return os.path.join(tmp, out)


def read_zxcvbn(tgz):
    data = open(tgz, "rb").read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != ZXCVBN_INTEGRITY:
        sys.exit("zxcvbn tarball integrity mismatch: %s" % got)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        js = tar.extractfile("package/lib/frequency_lists.js").read().decode("utf-8")
    m = re.search(r'\bpasswords: "([^"]*)"', js)
    if not m:
        sys.exit("no passwords list in zxcvbn's frequency_lists.js")
    return m.group(1).split(",")


def normalize(p):
    return p.lower().strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--django-list", default=DJANGO_LIST)
    ap.add_argument("--zxcvbn-tgz", help="a zxcvbn-4.4.2.tgz already packed (default: npm pack)")
    ap.add_argument("--target", type=int, default=20000)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    django = read_django(args.django_list)
    with tempfile.TemporaryDirectory() as tmp:
        tgz = args.zxcvbn_tgz or fetch_zxcvbn_tarball(tmp)
        zxcvbn = read_zxcvbn(tgz)

    seen, out = set(), []

    def add(p):
        p = normalize(p)
        if p and "\n" not in p and "\r" not in p and p not in seen:
            seen.add(p)
            out.append(p)

    for p in django:
        add(p)
    n_django = len(out)
    for p in zxcvbn:
        if len(out) >= args.target:
            break
        add(p)
    if len(out) < args.target:
        sys.exit("only %d passwords, fewer than --target %d" % (len(out), args.target))

    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(("\n".join(out) + "\n").encode("utf-8"))
    with open(args.out, "wb") as f:
        f.write(buf.getvalue())
    print("%s: %d passwords (%d from Django, %d from zxcvbn), %d bytes gzipped"
          % (args.out, len(out), n_django, len(out) - n_django, len(buf.getvalue())))


if __name__ == "__main__":
    main()
