#!/usr/bin/python3
"""Password hash test vectors for internal/authn, made by real Django.

Run with Debian's python3 (python3-django 3.2, python3-argon2,
python3-bcrypt), not a pyenv one:

    /usr/bin/python3 internal/authn/testdata/gen_hash_vectors.py \
        > internal/authn/testdata/hash_vectors.json

Every hash is made by Django's make_password (or, where Django's own tests
use fixed salts, the hasher's encode) and every recorded outcome is
Django's check_password / identify_hasher / must_update. scrypt uses Django
4.x's ScryptPasswordHasher copied into django4_scrypt.py, since Django 3.2
has none. Salts are random, so each run writes different hashes.

Output (JSON):
  versions       the Django, argon2-cffi, bcrypt and Python versions
  reference      per algorithm, the parameters "must_update" is relative to
  vectors        {algorithm, encoded, note, must_update,
                  checks: [{password, ok}]}  -- ok is check_password's answer
  malformed      {encoded, password, note, django}  -- django is "false",
                  "error: <exception>" or "not run: <why>" (never true)
  identify       {encoded, algorithm}  -- identify_hasher's, null if it raises
"""

import base64
import binascii
import hashlib
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in testdata
import django_env  # noqa: E402,F401  (configures settings first)
from django.contrib.auth import hashers as dh
from django4_scrypt import ScryptPasswordHasher

import argon2
import bcrypt
from argon2 import low_level

# The parameters the Go tests configure; must_update is relative to them.
REFERENCE = {
    "pbkdf2_sha256": {"iterations": 1000},
    "pbkdf2_sha1": {"iterations": 1000},
    "argon2": {"time_cost": 2, "memory_cost": 102400, "parallelism": 8},
    "bcrypt_sha256": {"rounds": 5},
    "bcrypt": {"rounds": 5},
    "scrypt": {"work_factor": 2**14, "block_size": 8, "parallelism": 1},
}


class RefPBKDF2(dh.PBKDF2PasswordHasher):
    iterations = REFERENCE["pbkdf2_sha256"]["iterations"]


class RefPBKDF2SHA1(dh.PBKDF2SHA1PasswordHasher):
    iterations = REFERENCE["pbkdf2_sha1"]["iterations"]


class RefArgon2(dh.Argon2PasswordHasher):
    time_cost = REFERENCE["argon2"]["time_cost"]
    memory_cost = REFERENCE["argon2"]["memory_cost"]
    parallelism = REFERENCE["argon2"]["parallelism"]


class RefBCryptSHA256(dh.BCryptSHA256PasswordHasher):
    rounds = REFERENCE["bcrypt_sha256"]["rounds"]


class RefBCrypt(dh.BCryptPasswordHasher):
    rounds = REFERENCE["bcrypt"]["rounds"]


class RefScrypt(ScryptPasswordHasher):
    work_factor = REFERENCE["scrypt"]["work_factor"]
    block_size = REFERENCE["scrypt"]["block_size"]
    parallelism = REFERENCE["scrypt"]["parallelism"]


REF = {
    "pbkdf2_sha256": RefPBKDF2(),
    "pbkdf2_sha1": RefPBKDF2SHA1(),
    "argon2": RefArgon2(),
    "bcrypt_sha256": RefBCryptSHA256(),
    "bcrypt": RefBCrypt(),
    "scrypt": RefScrypt(),
    "sha1": dh.SHA1PasswordHasher(),
    "md5": dh.MD5PasswordHasher(),
    "unsalted_sha1": dh.UnsaltedSHA1PasswordHasher(),
    "unsalted_md5": dh.UnsaltedMD5PasswordHasher(),
}

# ASCII, Latin-1, other scripts and emoji, empty (Django hashes it), and two
# of 100 bytes: bcrypt uses only the first 72, and the second one's 72nd
# byte falls inside a 3-byte character.
LONG_ASCII = "0123456789" * 10
LONG_UTF8 = "a" + "\u20ac" * 33
PASSWORDS = ["correct horse battery staple", "l\u00e8tmein", "\u043f\u0430\u0440\u043e\u043b\u044c \U0001f511 \u5bc6\u7801", "", LONG_ASCII, LONG_UTF8]


def candidates(pw, cheap):
    """The password, then wrong ones (and, for long passwords, ones equal
    in their first 72 bytes, which plain bcrypt accepts)."""
    out = [pw, pw + "x"]
    if cheap:
        out += [pw[:-1] if pw else " ", pw.upper() if pw.upper() != pw else pw + " ", "" if pw else "\x00"]
    if pw == LONG_ASCII:
        out.append(pw[:72] + "another tail")
    if pw == LONG_UTF8:
        # "\u2081" is E2 82 81: its first two bytes match "\u20ac"'s.
        out.append("a" + "\u20ac" * 23 + "\u2081zz")
        out.append("a" + "\u20ac" * 23)
    seen, uniq = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


vectors = []


def add(alg, encoded, pw, note, cheap=True, extra=()):
    ident = dh.identify_hasher(encoded).algorithm
    assert ident == alg, (ident, alg, encoded)
    checks = []
    for c in list(candidates(pw, cheap)) + list(extra):
        try:
            checks.append({"password": c, "ok": dh.check_password(c, encoded)})
        except ValueError as e:  # bcrypt refuses NUL bytes
            checks.append({"password": c, "ok": False, "django": "error: " + type(e).__name__})
    assert checks[0]["ok"], (alg, note)
    vectors.append({
        "algorithm": alg,
        "encoded": encoded,
        "note": note,
        "must_update": REF[alg].must_update(encoded),
        "checks": checks,
    })


def make(pw, hasher):
    return dh.make_password(pw, hasher=hasher)


# --- PBKDF2 ---------------------------------------------------------------
for pw in PASSWORDS:
    add("pbkdf2_sha256", make(pw, RefPBKDF2()), pw, "1000 iterations")
    add("pbkdf2_sha1", make(pw, RefPBKDF2SHA1()), pw, "1000 iterations")
add("pbkdf2_sha256", dh.make_password("correct horse battery staple"), "correct horse battery staple",
    "Django 3.2's default hasher and iterations (260000)", cheap=False)
add("pbkdf2_sha256", dh.PBKDF2PasswordHasher().encode("l\u00e8tmein", dh.PBKDF2PasswordHasher().salt(), 1_500_000),
    "l\u00e8tmein", "Django 6.1's default iterations (1500000)", cheap=False)
add("pbkdf2_sha256", RefPBKDF2().encode("l\u00e8tmein", "seasalt", 10000), "l\u00e8tmein",
    "Django's own test vector: 10000 iterations, 7-character salt")
add("pbkdf2_sha256", RefPBKDF2().encode("s3cret", "iodizedsalt"), "s3cret", "11-character salt: must_update")
add("pbkdf2_sha256", RefPBKDF2().encode("s3cret", "s\u00e4lt-\U0001f9c2-with+/=chars"), "s3cret", "non-ASCII salt")
add("pbkdf2_sha256", RefPBKDF2().encode("s3cret", RefPBKDF2().salt(), 500), "s3cret", "fewer iterations: must_update, hardening")
add("pbkdf2_sha1", RefPBKDF2SHA1().encode("l\u00e8tmein", "seasalt", 10000), "l\u00e8tmein", "10000 iterations, 7-character salt")

# --- argon2 ---------------------------------------------------------------
# Django's default parameters (t=2, m=102400 KiB, p=8) for new hashes.
for pw in PASSWORDS:
    add("argon2", make(pw, "argon2"), pw, "Django's defaults", cheap=False)


def argon2_low(pw, salt, t, m, p, hash_len, typ, version=19):
    return "argon2" + low_level.hash_secret(pw.encode(), salt, time_cost=t, memory_cost=m, parallelism=p,
                                            hash_len=hash_len, type=typ, version=version).decode("ascii")


T = low_level.Type
cheap_argon2 = [
    ("argon2id, Django's salt, small cost", "correct horse battery staple", dh.Argon2PasswordHasher().salt().encode(), 3, 256, 2, 16, T.ID, 19),
    ("argon2i version 1.3", "l\u00e8tmein", b"somesaltsomesalt", 2, 64, 2, 16, T.I, 19),
    ("argon2d version 1.3", "l\u00e8tmein", b"somesaltsomesalt", 2, 64, 2, 16, T.D, 19),
    ("argon2id version 1.0", "secret", b"somesalt", 2, 32, 2, 16, T.ID, 16),
    ("argon2i version 1.0, several address blocks", "secret", b"saltsaltsalt", 1, 1024, 1, 32, T.I, 16),
    ("argon2d version 1.0, 4 lanes, 3 passes", LONG_UTF8, b"saltsaltsalt", 3, 160, 4, 24, T.D, 16),
    ("argon2id version 0x12 (libargon2 computes any version)", "secret", b"somesalt", 2, 32, 1, 16, T.ID, 18),
    ("argon2id, 8-byte salt and 4-byte hash (libargon2's minimums)", "secret", b"12345678", 1, 8, 1, 4, T.ID, 19),
    ("argon2id, 100-byte hash", "", b"0123456789abcdef", 1, 16, 2, 100, T.ID, 19),
    ("argon2id, m not a multiple of 4·p", "secret", b"somesaltsomesalt", 2, 70, 3, 16, T.ID, 19),
    ("argon2i, 20 lanes", "secret", b"somesaltsomesalt", 1, 200, 20, 16, T.I, 19),
]
for note, pw, salt, t, m, p, hl, typ, ver in cheap_argon2:
    add("argon2", argon2_low(pw, salt, t, m, p, hl, typ, ver), pw, note)
# Version-less hashes (argon2-cffi before 16.0, Django 1.10) are version 1.0.
legacy = argon2_low("secret", b"somesaltsomesalt", 2, 64, 2, 16, T.I, 16).replace("$v=16$", "$", 1)
add("argon2", legacy, "secret", "argon2i without a version field (1.0)")
# Django's own tests' fixed vectors.
add("argon2", "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg",
    "secret", "Django's test vector: old hash without version attribute")
add("argon2", "argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q", "secret",
    "Django's test vector: old hash with version attribute")
add("argon2", RefArgon2().encode("l\u00e8tmein", "iodizedsalt"), "l\u00e8tmein", "weak salt: must_update", cheap=False)

# --- bcrypt ---------------------------------------------------------------
for pw in PASSWORDS:
    add("bcrypt_sha256", make(pw, RefBCryptSHA256()), pw, "5 rounds")
    add("bcrypt", make(pw, RefBCrypt()), pw, "5 rounds")
add("bcrypt_sha256", dh.make_password("correct horse battery staple", hasher="bcrypt_sha256"),
    "correct horse battery staple", "Django's default rounds (12)", cheap=False)
add("bcrypt", dh.make_password(LONG_ASCII, hasher="bcrypt"), LONG_ASCII, "Django's default rounds (12)", cheap=False)


class BCrypt4(dh.BCryptPasswordHasher):
    rounds = 4


class BCryptSHA256_4(dh.BCryptSHA256PasswordHasher):
    rounds = 4


add("bcrypt_sha256", make("s3cret", BCryptSHA256_4()), "s3cret", "4 rounds: must_update, hardening")
add("bcrypt", make("s3cret", BCrypt4()), "s3cret", "4 rounds: must_update, hardening")
for prefix in (b"$2a$", b"$2y$"):
    salt = prefix + bcrypt.gensalt(5)[4:]
    add("bcrypt", "bcrypt$" + bcrypt.hashpw(LONG_UTF8.encode(), salt).decode(), LONG_UTF8, prefix.decode() + " prefix")
    digest = binascii.hexlify(hashlib.sha256("l\u00e8tmein".encode()).digest())
    add("bcrypt_sha256", "bcrypt_sha256$" + bcrypt.hashpw(digest, salt).decode(), "l\u00e8tmein", prefix.decode() + " prefix")

# --- scrypt (Django 4.x's hasher, copied) -----------------------------------
for pw in PASSWORDS:
    add("scrypt", make(pw, RefScrypt()), pw, "Django 4.x's defaults (N=2^14, r=8, p=1)")
add("scrypt", RefScrypt().encode("l\u00e8tmein", "seasalt", 1024, 4, 3), "l\u00e8tmein", "N=1024, r=4, p=3: must_update")
add("scrypt", RefScrypt().encode("s3cret", "x", 2, 1, 1), "s3cret", "smallest N, 1-character salt")

# --- legacy, verify-only ----------------------------------------------------
for pw in PASSWORDS:
    add("sha1", make(pw, "sha1"), pw, "random salt")
    add("md5", make(pw, "md5"), pw, "random salt")
    add("unsalted_sha1", make(pw, "unsalted_sha1"), pw, "sha1$$")
    add("unsalted_md5", make(pw, "unsalted_md5"), pw, "bare hex")
    add("unsalted_md5", "md5$$" + make(pw, "unsalted_md5"), pw, "md5$$ form")
add("sha1", dh.SHA1PasswordHasher().encode("l\u00e8tmein", "seasalt"), "l\u00e8tmein", "Django's test vector salt")
add("md5", dh.MD5PasswordHasher().encode("l\u00e8tmein", "seasalt"), "l\u00e8tmein", "Django's test vector salt")
add("md5", dh.MD5PasswordHasher().encode("l\u00e8tmein", "s\u00e4lt"), "l\u00e8tmein", "non-ASCII salt")

# --- malformed --------------------------------------------------------------
malformed = []


def bad(encoded, note, password="secret", run=True):
    if not run:
        outcome = "not run: " + run_reason[0]
    else:
        try:
            ok = dh.check_password(password, encoded)
            assert ok is False, (encoded, note)
            outcome = "false"
        except Exception as e:  # noqa: BLE001 -- recording what Django does
            outcome = "error: " + type(e).__name__
    malformed.append({"encoded": encoded, "password": password, "note": note, "django": outcome})


run_reason = ["absurd cost: Django would compute it"]


def first(alg, pw="secret"):
    for v in vectors:
        if v["algorithm"] == alg and v["checks"][0]["password"] == pw:
            return v["encoded"]
    raise KeyError(alg)


pb = RefPBKDF2().encode("secret", "saltsaltsaltsaltsaltsa")
pb1 = RefPBKDF2SHA1().encode("secret", "saltsaltsaltsaltsaltsa")
bad(pb[:-1], "pbkdf2: truncated hash")
bad(pb[:-4], "pbkdf2: hash short by one base64 group")
bad(pb.rsplit("$", 1)[0], "pbkdf2: no hash field")
bad(pb.rsplit("$", 1)[0] + "$", "pbkdf2: empty hash")
bad("pbkdf2_sha256$", "pbkdf2: algorithm only")
bad("pbkdf2_sha256", "pbkdf2: algorithm without $")
bad(pb + "$x", "pbkdf2: extra field")
bad(pb + "x", "pbkdf2: trailing character")
bad(pb + "\n", "pbkdf2: trailing newline")
bad(pb.replace("=", ""), "pbkdf2: unpadded base64")
bad(pb.replace("$1000$", "$01000$"), "pbkdf2: leading zero in iterations")
bad(pb.replace("$1000$", "$+1000$"), "pbkdf2: sign in iterations")
bad(pb.replace("$1000$", "$ 1000$"), "pbkdf2: space in iterations")
bad(pb.replace("$1000$", "$1_000$"), "pbkdf2: underscore in iterations")
bad(pb.replace("$1000$", "$0$"), "pbkdf2: zero iterations")
bad(pb.replace("$1000$", "$-1$"), "pbkdf2: negative iterations")
bad(pb.replace("$1000$", "$abc$"), "pbkdf2: non-numeric iterations")
bad(pb.replace("$1000$", "$$"), "pbkdf2: empty iterations")
bad(pb.replace("saltsaltsaltsaltsaltsa", ""), "pbkdf2: empty salt")
bad(pb.replace("$1000$", "$1099511627776$"), "pbkdf2: 2^40 iterations", run=False)
bad(pb.replace("$1000$", "$100000001$"), "pbkdf2: one above the 100M limit", run=False)
bad(pb.replace("$1000$", "$99999999999999999999999$"), "pbkdf2: iterations overflow 64 bits", run=False)
bad(pb1[:-1], "pbkdf2_sha1: truncated hash")
bad("pbkdf2_sha1" + pb[len("pbkdf2_sha256"):], "pbkdf2_sha1 with a 32-byte hash")
bad("PBKDF2_SHA256" + pb[len("pbkdf2_sha256"):], "upper-case algorithm")

a2 = argon2_low("secret", b"somesaltsomesalt", 2, 64, 2, 16, T.ID, 19)
bad(a2[:-1], "argon2: truncated hash")
bad(a2[:-3], "argon2: hash shorter by 3 characters")
bad(a2.rsplit("$", 1)[0], "argon2: no hash field")
bad(a2.rsplit("$", 1)[0] + "$", "argon2: empty hash")
bad(a2 + "==", "argon2: padded base64")
bad(a2 + "$", "argon2: trailing $")
bad(a2 + "$x", "argon2: extra field")
bad(a2.replace("$argon2id$", "$argon2x$"), "argon2: unknown variant")
bad(a2.replace("$argon2id$", "$Argon2id$"), "argon2: upper-case variant")
bad(a2.replace("$argon2id$", "$argon2idx$"), "argon2: variant with a suffix")
bad(a2.replace("argon2$argon2id$", "argon2$"), "argon2: no variant")
bad(a2.replace("m=64,t=2,p=2", "t=2,m=64,p=2"), "argon2: parameters out of order")
bad(a2.replace("m=64,t=2,p=2", "m=064,t=2,p=2"), "argon2: leading zero")
bad(a2.replace("m=64,t=2,p=2", "m=64,t=2"), "argon2: parallelism missing")
bad(a2.replace("m=64,t=2,p=2", "m=64,t=2,p=2,x=1"), "argon2: unknown parameter")
bad(a2.replace("m=64,t=2,p=2", "m=64,t=0,p=2"), "argon2: zero time cost")
bad(a2.replace("m=64,t=2,p=2", "m=15,t=2,p=2"), "argon2: less than 8 KiB per lane")
bad(a2.replace("m=64,t=2,p=2", "m=64,t=2,p=0"), "argon2: zero lanes")
bad(a2.replace("v=19", "v=019"), "argon2: leading zero in version")
bad(a2.replace("v=19", "v="), "argon2: empty version")
bad(a2.replace("m=64,t=2,p=2", "m=1099511627776,t=2,p=2"), "argon2: 1 TiB of memory (above 2^32-1 KiB)")
bad(a2.replace("m=64,t=2,p=2", "m=4294967295,t=1,p=1"), "argon2: 4 TiB of memory", run=False)
bad(a2.replace("m=64,t=2,p=2", "m=4194305,t=1,p=1"), "argon2: one KiB above 4 GiB", run=False)
bad(a2.replace("m=64,t=2,p=2", "m=65536,t=4294967295,p=1"), "argon2: 2^32-1 passes", run=False)
bad(a2.replace("m=64,t=2,p=2", "m=4096,t=2,p=1024"), "argon2: 1024 lanes, under 8 KiB each")
bad(a2.replace("m=64,t=2,p=2", "m=8192,t=2,p=256"), "argon2: 256 lanes (libargon2 allows, above the limit)")
salt_b64 = a2.split("$")[-2]
bad(a2.replace(salt_b64, "c2FsdA"), "argon2: 4-byte salt")
bad(a2.replace(salt_b64, ""), "argon2: empty salt")
bad(a2[: a2.rindex("$") + 1] + "AAAA", "argon2: 3-byte hash")
bad(a2[:-1] + ("B" if a2[-1] == "A" else "A"), "argon2: last character changed")
bad("argon2$argon2id", "argon2: variant only")
bad("argon2", "argon2: algorithm only")

bs = make("secret", RefBCryptSHA256())
bc = make("secret", RefBCrypt())
mcf = bc[len("bcrypt$"):]
bad(bc[:-1], "bcrypt: 59 characters")
bad(bc + "x", "bcrypt: 61 characters")
bad(bc + "$", "bcrypt: trailing $")
bad(bc[: len("bcrypt$") + 29], "bcrypt: salt only")
bad("bcrypt$" + mcf[1:], "bcrypt: missing $ before 2b")
bad("bcrypt$" + mcf.replace("$2b$", "$2x$", 1), "bcrypt: $2x$")
bad("bcrypt$" + mcf.replace("$2b$", "$2$", 1), "bcrypt: $2$")
bad("bcrypt$" + mcf.replace("$2b$", "$3b$", 1), "bcrypt: $3b$")
bad("bcrypt$" + mcf.replace("$05$", "$03$", 1), "bcrypt: cost 3")
bad("bcrypt$" + mcf.replace("$05$", "$32$", 1), "bcrypt: cost 32")
bad("bcrypt$" + mcf.replace("$05$", "$40$", 1), "bcrypt: cost 40")
bad("bcrypt$" + mcf.replace("$05$", "$5$", 1), "bcrypt: one-digit cost")
bad("bcrypt$" + mcf.replace("$05$", "$+5$", 1), "bcrypt: signed cost")
bad("bcrypt$" + mcf.replace("$05$", "$19$", 1), "bcrypt: cost 19 (above the limit)", run=False)
bad("bcrypt$" + mcf.replace("$05$", "$31$", 1), "bcrypt: cost 31", run=False)
last = mcf[28]
alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
noncanon = alphabet[alphabet.index(last) | 1]
bad("bcrypt$" + mcf[:28] + noncanon + mcf[29:], "bcrypt: non-canonical salt (spare bits set)")
lastc = mcf[59]
bad("bcrypt$" + mcf[:59] + alphabet[alphabet.index(lastc) | 1], "bcrypt: non-canonical checksum")
bad("bcrypt$" + mcf[:10] + "*" + mcf[11:], "bcrypt: character outside the alphabet")
bad(bs[:-1], "bcrypt_sha256: truncated")
bad("bcrypt_sha256$$2b$05$" + "a" * 52 + "\u00e9", "bcrypt_sha256: non-ASCII")
bad(bc, "bcrypt: NUL in the password", password="sec\x00ret")

sc = RefScrypt().encode("secret", "saltsaltsaltsaltsaltsa", 1024, 4, 3)
bad(sc[:-1], "scrypt: truncated hash")
bad(sc[:-4], "scrypt: hash short by one base64 group")
bad(sc + "$x", "scrypt: extra field")
bad(sc.rsplit("$", 1)[0], "scrypt: five fields")
bad(sc.replace("scrypt$1024$", "scrypt$1000$"), "scrypt: N not a power of two")
bad(sc.replace("scrypt$1024$", "scrypt$1$"), "scrypt: N=1")
bad(sc.replace("scrypt$1024$", "scrypt$0$"), "scrypt: N=0")
bad(sc.replace("scrypt$1024$", "scrypt$01024$"), "scrypt: leading zero in N")
bad(sc.replace("$4$3$", "$0$3$"), "scrypt: r=0")
bad(sc.replace("$4$3$", "$4$0$"), "scrypt: p=0")
bad(sc.replace("$4$3$", "$4$-3$"), "scrypt: p=-3")
bad(sc.replace("saltsaltsaltsaltsaltsa", ""), "scrypt: empty salt")
bad(sc.replace("scrypt$1024$", "scrypt$1099511627776$"), "scrypt: N=2^40")
bad(sc.replace("scrypt$1024$", "scrypt$32768$").replace("$4$3$", "$8$1$"), "scrypt: N=2^15, r=8 (32 MiB: Django's default maxmem refuses, allowed here)")
bad(sc.replace("scrypt$1024$", "scrypt$2097152$").replace("$4$3$", "$8$1$"), "scrypt: N=2^21, r=8 (2 GiB)")
bad(sc.replace("scrypt$1024$", "scrypt$65536$").replace("$4$3$", "$1$1$"), "scrypt: N=2^16 with r=1 (OpenSSL refuses N >= 2^(16r))")
bad(sc.replace("scrypt$1024$", "scrypt$16777216$").replace("$4$3$", "$8$1$"), "scrypt: N=2^24, r=8 (2 GiB)")
bad(sc.replace("scrypt$1024$", "scrypt$16384$").replace("$4$3$", "$8$65$"), "scrypt: p=65 at N=2^14, r=8 (over 1 GiB of work)", run=False)

sh = dh.SHA1PasswordHasher().encode("secret", "seasalt")
md = dh.MD5PasswordHasher().encode("secret", "seasalt")
bad(sh[:-1], "sha1: truncated")
bad(sh + "0", "sha1: one hex digit too many")
bad(sh.upper().replace("SHA1$SEASALT$", "sha1$seasalt$"), "sha1: upper-case hex")
bad("sha1$$" + sh.split("$")[2][:-1], "sha1: empty salt (not the unsalted length)")
bad("sha1$seasalt", "sha1: no hash field")
bad(md[:-1], "md5: truncated")
bad(md + "$x", "md5: extra field")
bad("md5$$" + md.split("$")[2] + "0", "md5: empty salt, 33 hex digits")
bad(make("secret", "unsalted_md5").upper(), "unsalted_md5: upper-case hex")
bad("g" * 32, "unsalted_md5: 32 characters, not hex")
bad("sha1$$" + "g" * 40, "unsalted_sha1: 46 characters, not hex")
bad("unsalted_md5$" + make("secret", "unsalted_md5"), "unsalted_md5 named as an algorithm prefix")
bad("crypt$$ab1234567890A", "crypt (not supported)")
bad("nodollar", "no $ at all")
bad("$", "just $")
bad("$$$", "only $")
bad("bogus$1$2$3", "unknown algorithm")
bad("!", "unusable")
bad("!" + bc, "unusable prefix on a valid hash")
bad("", "empty")

# --- identify_hasher -------------------------------------------------------
identify = []
for enc in ["a" * 32, "A" * 32, "\u00e9" * 32, "a" * 31, "a" * 33, "a$" + "a" * 30, "md5$$" + "a" * 32, "md5$$" + "a" * 31,
            "md5$" + "a" * 32, "sha1$$" + "a" * 40, "sha1$$" + "a" * 39, "sha1$$" + "a" * 41, "sha1$x$" + "a" * 39,
            "sha1$$" + "\u00e9" * 40, "md5$$" + "\u00e9" * 32, "pbkdf2_sha256$1$s$h", "pbkdf2_sha256", "argon2$argon2id$x",
            "bcrypt$$2b$x", "bcrypt_sha256$$2b$x", "scrypt$1$s$1$1$h", "unsalted_md5$x", "unsalted_sha1$x", "crypt$$x",
            "", "$", "$pbkdf2_sha256$", "PBKDF2_SHA256$1$s$h", "md5", "sha1"]:
    try:
        alg = dh.identify_hasher(enc).algorithm
    except ValueError:
        alg = None
    identify.append({"encoded": enc, "algorithm": alg})

versions = django_env.versions()
assert versions["django"].startswith("3.2"), versions
json.dump({
    "generator": "internal/authn/testdata/gen_hash_vectors.py",
    "versions": versions,
    "reference": REFERENCE,
    "vectors": vectors,
    "malformed": malformed,
    "identify": identify,
}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
