#!/usr/bin/python3
"""Record real Django's password-validation results as test vectors.

Run from the repository root with Debian's Python, which has Django:

    apt-get install python3-django      # 3:3.2.25, once
    /usr/bin/python3 internal/authn/testdata/gen_validator_vectors.py

It writes internal/authn/testdata/validator_vectors.json:

- cases: a validator configuration (the gateway's names and options), a
  password and a user (or null); "messages" is the list of messages Django's
  validate_password raises (empty when it passes). CommonPasswordValidator
  is Django's, given the gateway's own list (password_list_path), so the
  cases check Django's algorithm against the list the gateway ships.
- help_texts: password_validators_help_texts() for some configurations.
- quick_ratio, split, lower, strip, isdigit: difflib's quick_ratio,
  re.split(r"\\W+", s), str.lower(), str.strip(), str.isdigit() on tricky
  strings.
- unicode: Python's per-code-point sets (as [first, last] ranges) behind
  those functions, for exhaustive checks of the Go ports: whitespace,
  isdigit, re's \\w, Cased and Case_Ignorable (probed through lower()'s
  Final_Sigma handling), the lower() mapping of every code point it changes,
  and the code points unassigned in this Python's Unicode version (skipped).
- django_common_passwords: count and SHA-256 of Django's own list, plus
  samples, to check that the gateway's list starts with all of it.

Newer Django: Debian's 3.2.25 already carries the CVE-2021-45115 change to
UserAttributeSimilarityValidator (lower-case first, then split; the
exceeds_maximum_length_ratio shortcut), so its algorithm is the one in
Django 6.x. The script still computes every similarity result a second time
with a copy of Django 6.x's code (newer_similarity below) and, should the two
ever disagree, records the 6.x result with "newer_django_differs": true and
Django 3.2's messages in "django_3_2_messages". It also marks the cases on
which Django <= 3.2.10 (before the CVE fix: split first, lower each part, no
shortcut) decided differently: "pre_cve_differs": true.
"""

import gzip
import hashlib
import json
import os
import re
import sys
import unicodedata
from difflib import SequenceMatcher

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    USE_I18N=True,
    LANGUAGE_CODE="en-us",
)
django.setup()

from django.contrib.auth import password_validation as pv  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LIST = os.path.join(os.path.dirname(HERE), "common-passwords.txt.gz")
OUT = os.path.join(HERE, "validator_vectors.json")
DJANGO_LIST = os.path.join(os.path.dirname(pv.__file__), "common-passwords.txt.gz")

DEFAULT = [
    {"name": "UserAttributeSimilarityValidator"},
    {"name": "MinimumLengthValidator"},
    {"name": "CommonPasswordValidator"},
    {"name": "NumericPasswordValidator"},
]
VERBOSE = {"username": "username", "first_name": "first name", "last_name": "last name", "email": "email address"}


def django_validators(cfg):
    out = []
    for v in cfg:
        opts = {}
        if v["name"] == "MinimumLengthValidator" and "min_length" in v:
            opts["min_length"] = v["min_length"]
        if v["name"] == "UserAttributeSimilarityValidator":
            if "max_similarity" in v:
                opts["max_similarity"] = v["max_similarity"]
            if "user_attributes" in v:
                opts["user_attributes"] = v["user_attributes"]
        if v["name"] == "CommonPasswordValidator":
            opts["password_list_path"] = LIST
        out.append({"NAME": "django.contrib.auth.password_validation." + v["name"], "OPTIONS": opts})
    return pv.get_password_validators(out)


def make_user(u):
    if u is None:
        return None
    return User(
        username=u.get("username", ""), email=u.get("email", ""),
        first_name=u.get("first_name", ""), last_name=u.get("last_name", ""),
    )


# --- Django 6.x's UserAttributeSimilarityValidator, copied -----------------

def exceeds_maximum_length_ratio(password, max_similarity, value):
    pwd_len = len(password)
    length_bound_similarity = max_similarity / 2 * pwd_len
    value_len = len(value)
    return pwd_len >= 10 * value_len and value_len < length_bound_similarity


def newer_similarity(password, user, attributes, max_similarity):
    """Django 6.x: the message, or None."""
    if not user:
        return None
    password = password.lower()
    for attribute_name in attributes:
        value = getattr(user, attribute_name, None)
        if not value or not isinstance(value, str):
            continue
        value_lower = value.lower()
        value_parts = re.split(r"\W+", value_lower) + [value_lower]
        for value_part in value_parts:
            if exceeds_maximum_length_ratio(password, max_similarity, value_part):
                continue
            if SequenceMatcher(a=password, b=value_part).quick_ratio() >= max_similarity:
                return "The password is too similar to the %s." % VERBOSE[attribute_name]
    return None


def pre_cve_similarity(password, user, attributes, max_similarity):
    """Django <= 3.2.10: split first, lower each part, no shortcut."""
    if not user:
        return None
    for attribute_name in attributes:
        value = getattr(user, attribute_name, None)
        if not value or not isinstance(value, str):
            continue
        value_parts = re.split(r"\W+", value) + [value]
        for value_part in value_parts:
            if SequenceMatcher(a=password.lower(), b=value_part.lower()).quick_ratio() >= max_similarity:
                return "The password is too similar to the %s." % VERBOSE[attribute_name]
    return None


def messages_with(cfg, password, user, similarity_fn, real):
    """real's messages with each similarity message recomputed by fn."""
    msgs = []
    validators = django_validators(cfg)
    for v, c in zip(validators, cfg):
        if c["name"] == "UserAttributeSimilarityValidator":
            m = similarity_fn(password, user, c.get("user_attributes", pv.UserAttributeSimilarityValidator.DEFAULT_USER_ATTRIBUTES),
                              c.get("max_similarity", 0.7))
            if m:
                msgs.append(m)
            continue
        try:
            v.validate(password, user)
        except ValidationError as e:
            msgs.extend(e.messages)
    return msgs


def run_case(name, password, user=None, cfg=None, note=None):
    cfg = DEFAULT if cfg is None else cfg
    du = make_user(user)
    try:
        pv.validate_password(password, du, django_validators(cfg))
        real = []
    except ValidationError as e:
        real = list(e.messages)
    case = {"name": name, "validators": cfg, "password": password, "user": user, "messages": real}
    newer = messages_with(cfg, password, du, newer_similarity, real)
    if newer != real:
        case["messages"] = newer
        case["newer_django_differs"] = True
        case["django_3_2_messages"] = real
    if messages_with(cfg, password, du, pre_cve_similarity, real) != newer:
        case["pre_cve_differs"] = True
    if note:
        case["note"] = note
    return case


def sim(**kw):
    return [dict({"name": "UserAttributeSimilarityValidator"}, **kw)]


def minlen(n):
    return [{"name": "MinimumLengthValidator", "min_length": n}]


TESTCLIENT = {"username": "testclient", "email": "testclient@example.com", "first_name": "Test", "last_name": "Client"}
JURGEN = {"username": "jürgen.müller", "email": "jürgen.müller+news@exämple.com", "first_name": "Jürgen", "last_name": "Müller"}
DOTS = {"username": "first.last", "email": "first.last+tag@mail.example.org", "first_name": "First", "last_name": "Last"}


def cases():
    c = []
    add = lambda *a, **k: c.append(run_case(*a, **k))  # noqa: E731

    # Minimum length, in code points.
    add("empty password", "")
    add("seven ascii", "abcdefg")
    add("eight ascii", "abcdefgh")
    add("short and numeric", "1234567")
    add("eight code points, sixteen bytes", "пароль12")
    add("seven emoji", "🔑" * 7)
    add("eight emoji", "🔑" * 8)
    add("combining marks count", "e\u0301e\u0301e\u0301e\u0301")  # 8 code points
    add("min_length 1, empty: singular", "", cfg=minlen(1))
    add("min_length 1, one char", "x", cfg=minlen(1))
    add("min_length 2, one char: plural", "x", cfg=minlen(2))
    add("min_length 12", "django4242", cfg=minlen(12))
    add("min_length 12 met", "django424242", cfg=minlen(12))
    add("min_length 100", "x" * 99, cfg=minlen(100))

    # Common passwords: lower() and strip() first.
    add("common", "password")
    add("common godzilla", "godzilla")
    add("common upper", "PASSWORD")
    add("common mixed case", "GodZilla")
    add("common with spaces", "  password  ")
    add("common with tab and newline", "\tpassword\n")
    add("common with python-only whitespace", "\x1cpassword\x1f", note="U+001C and U+001F are whitespace to Python's strip(), not to Go's unicode.IsSpace")
    add("common with nbsp and ideographic space", "\u00a0password\u3000")
    add("common with zwsp is not stripped", "\u200bpassword", note="U+200B is not whitespace for str.strip()")
    add("common with inner space", "z k.lovemom")
    add("common from zxcvbn top-up", "usuckballz1", note="in the gateway's list, not in Django's")
    add("common from zxcvbn top-up 2", "soso123aljg")
    add("not common", "a-safe-password")
    add("common numeric", "12345678")
    add("common numeric padded", " 12345678 ")
    add("common with dotted capital i", "İloveyou", note="lower() gives 'i̇loveyou', not 'iloveyou'")

    # Numeric: str.isdigit().
    add("numeric ascii", "42424242")
    add("numeric with space", "4242 4242")
    add("numeric arabic-indic", "١٢٣٤٥٦٧٨٩")
    add("numeric devanagari", "१२३४५६७८९")
    add("numeric fullwidth", "１２３４５６７８９")
    add("numeric superscripts", "²³¹²³¹²³¹")
    add("numeric circled", "①②③④⑤⑥⑦⑧")
    add("not numeric: vulgar fractions", "½½½½½½½½")
    add("not numeric: roman numerals", "ⅠⅡⅢⅣⅤⅥⅦⅧ")
    add("not numeric: cjk numerals", "一二三四五六七八")
    add("numeric mixed scripts", "12٣४５²①9")

    # Similarity, default user and options.
    add("similar to username", "testclient", TESTCLIENT)
    add("similar to username, upper", "TESTCLIENT", TESTCLIENT)
    add("similar to username, anagram", "tneilctset", TESTCLIENT)
    add("similar to username, suffix", "testclient2024", TESTCLIENT)
    add("similar to email domain", "example.com", TESTCLIENT)
    add("similar to email", "testclient@example.com", TESTCLIENT)
    add("similar with spaces", "  testclient  ", TESTCLIENT)
    add("not similar", "correct horse battery staple", TESTCLIENT)
    add("no user", "testclient", None)
    add("user with empty attributes", "testclient", {"username": "", "email": "", "first_name": "", "last_name": ""})
    add("first name, low max_similarity", "testclient", TESTCLIENT, cfg=sim(user_attributes=["first_name"], max_similarity=0.3))
    add("first name, max_similarity 1, identical", "Test", TESTCLIENT, cfg=sim(user_attributes=["first_name"], max_similarity=1))
    add("first name, max_similarity 1, anagram", "tset", TESTCLIENT, cfg=sim(user_attributes=["first_name"], max_similarity=1))
    add("first name, max_similarity 1, not identical", "Tests", TESTCLIENT, cfg=sim(user_attributes=["first_name"], max_similarity=1))
    add("first name only, passes", "testclient", TESTCLIENT, cfg=sim(user_attributes=["first_name"]))
    add("max_similarity 0.1", "zq", TESTCLIENT, cfg=sim(max_similarity=0.1))
    add("max_similarity 0.1 disjoint", "zqwvy", TESTCLIENT, cfg=sim(max_similarity=0.1))
    add("max_similarity 0.95", "testclienz", TESTCLIENT, cfg=sim(max_similarity=0.95))
    add("max_similarity 0.5", "clientxyz", TESTCLIENT, cfg=sim(max_similarity=0.5))
    add("attribute order: last_name first", "testclient", TESTCLIENT, cfg=sim(user_attributes=["last_name", "username"], max_similarity=0.5))
    add("attribute order: username first", "testclient", TESTCLIENT, cfg=sim(user_attributes=["username", "last_name"], max_similarity=0.5))
    add("email only", "mail.example", DOTS, cfg=sim(user_attributes=["email"]))

    # Emails with dots and plus; username with dots.
    add("dots: part of username", "first", DOTS)
    add("dots: whole username", "firstlast", DOTS)
    add("dots: plus tag", "tagtagtag", DOTS)
    add("dots: email host", "mailmailmail", DOTS)
    add("dots: reversed name", "lastfirst", DOTS)
    add("dots: unrelated", "zebra-quantum-42", DOTS)

    # Unicode names.
    add("unicode: surname", "müller2024", JURGEN)
    add("unicode: first name upper", "JÜRGEN!!", JURGEN)
    add("unicode: stripped umlauts", "jurgenmuller", JURGEN)
    add("unicode: domain", "exämple.com", JURGEN)
    add("unicode: unrelated", "Zebra-Quantum-42", JURGEN)
    add("dotted capital i in username", "istanbul", {"username": "İstanbul"}, note="'İstanbul'.lower() is 'i̇stanbul'; U+0307 is \\W, so the parts are 'i' and 'stanbul'")
    add("dotted capital i, part", "stanbul!", {"username": "İstanbul"})
    add("dotted capital i in password", "İSTANBUL", {"username": "istanbul"})
    add("dotted capital i splits the name (pre-CVE differs)", "m", {"username": "Kİm"}, cfg=sim(),
        note="lower() first gives 'ki̇m', split into 'ki' and 'm'; Django <= 3.2.10 split 'Kİm' first (no split) and compared with 'ki̇m'")
    add("final sigma in name", "σσσσ", {"username": "ΣΣ"}, cfg=sim(max_similarity=0.7), note="'ΣΣ'.lower() is 'σς'")
    add("final sigma in name 2", "σς", {"username": "ΣΣ"}, cfg=sim(max_similarity=1))
    add("final sigma in password", "ΟΔΥΣΣΕΥΣ", {"username": "οδυσσευς"}, cfg=sim(max_similarity=1))
    add("final sigma in password, no final", "ΟΔΥΣΣΕΥΣA", {"username": "οδυσσευςa"}, cfg=sim(max_similarity=1))
    add("sigma after apostrophe", "A'Σ", {"username": "a'ς"}, cfg=sim(max_similarity=1))
    add("greek name", "Οδυσσέας1", {"first_name": "Οδυσσέας"})
    add("cjk name", "山田太郎パスワード", {"first_name": "太郎", "last_name": "山田"})
    add("cjk name close", "山田太郎", {"first_name": "太郎", "last_name": "山田", "username": "山田太郎"})
    add("combining accent splits", "jose", {"first_name": "Jose\u0301"}, note="U+0301 is a combining mark: \\W for Python's re")
    add("combining accent splits 2", "jos", {"first_name": "Jose\u0301"}, cfg=sim(max_similarity=0.85))
    add("precomposed accent", "josé", {"first_name": "José"})
    add("zero width space splits", "ab", {"username": "ab\u200bcd"}, cfg=sim(max_similarity=0.9))
    add("emoji in name", "🔑🔑🔑🔑🔑🔑🔑🔑", {"username": "🔑"}, cfg=sim(max_similarity=0.2))
    add("emoji in name, whole value", "🔑x🔑", {"username": "x🔑🔑"})
    add("titlecase digraph", "ǆungla!", {"username": "ǅungla"})
    add("capital sharp s", "ßtraße", {"username": "ẞTRASSE"})
    add("cherokee", "ꭰꭱꭲꭳꭴꭵ", {"username": "ᎠᎡᎢᎣᎤᎥ"})

    # Empty parts of re.split.
    add("empty password, username ends with dot", "", {"username": "foo."}, note="re.split gives ['foo', '']; quick_ratio('', '') is 1.0")
    add("empty password, only similarity", "", {"username": "foo."}, cfg=sim())
    add("empty password, no empty part", "", {"username": "foo"}, cfg=sim())
    add("one char password, username ends with dot", "x", {"username": "foo."}, cfg=sim())

    # Very long passwords and the ratio shortcut.
    add("long password", "a" * 1000, TESTCLIENT)
    add("long password, long username", "testclient" * 100, {"username": "testclient" * 100})
    add("long password, username inside", "q" * 90 + "testclient", TESTCLIENT)
    add("ratio shortcut boundary: 10x", "ab" * 10, {"username": "ab"}, cfg=sim(max_similarity=0.2), note="pwd_len == 10 * value_len")
    add("ratio shortcut boundary: 9.5x", "ab" * 9 + "a", {"username": "ab"}, cfg=sim(max_similarity=0.2))
    add("ratio shortcut boundary: bound", "ba" * 10, {"username": "ab"}, cfg=sim(max_similarity=0.1))
    add("ratio shortcut, max 1", "x" * 30, {"username": "xxx"}, cfg=sim(max_similarity=1))
    add("very long password", "Zebra-Quantum-" * 400, TESTCLIENT)
    add("very long unicode password", "ŻÓŁW" * 3000, {"username": "żółw"})
    add("long username, short password", "client", {"username": "client" * 50})

    # Several failures at once, in configured order.
    add("all four fail", "123456", {"username": "123456"})
    add("three fail: short, common, numeric", "123456", TESTCLIENT)
    add("similar and common", "testclient", {"username": "password"}, note="'testclient' isn't common; password 'password' is")
    add("similar and common 2", "password", {"username": "password1"})
    add("similar, short", "Test", TESTCLIENT)
    add("custom order", "123456", {"username": "123456"}, cfg=[
        {"name": "NumericPasswordValidator"},
        {"name": "CommonPasswordValidator"},
        {"name": "MinimumLengthValidator", "min_length": 10},
        {"name": "UserAttributeSimilarityValidator", "user_attributes": ["email", "username"], "max_similarity": 0.5},
    ])
    add("duplicate validators", "short", None, cfg=[
        {"name": "MinimumLengthValidator", "min_length": 12},
        {"name": "MinimumLengthValidator"},
        {"name": "MinimumLengthValidator", "min_length": 1},
    ])
    add("no validators", "", None, cfg=[])
    add("common and numeric only", "00000000", None, cfg=[{"name": "CommonPasswordValidator"}, {"name": "NumericPasswordValidator"}])
    add("passes everything", "Zebra-Quantum-42", TESTCLIENT)
    add("passes everything, unicode", "Żółw-Kwantowy-42", JURGEN)
    return c


def help_texts():
    cfgs = [
        DEFAULT,
        minlen(1),
        minlen(2),
        minlen(12),
        [{"name": "NumericPasswordValidator"}, {"name": "CommonPasswordValidator"}],
        [],
    ]
    return [{"validators": cfg, "help_texts": pv.password_validators_help_texts(django_validators(cfg))} for cfg in cfgs]


QR_PAIRS = [
    ("", ""), ("a", ""), ("", "a"), ("abcd", "bcde"), ("abcd", "dcba"), ("aaaa", "aa"), ("aa", "aaaa"),
    ("testclient", "testclient@example.com"), ("é", "e\u0301"), ("e\u0301", "e\u0301"), ("🔑🔑", "🔑"),
    ("σσ", "σς"), ("i̇stanbul", "istanbul"), ("straße", "strasse"), ("ab" * 50, "ba"), ("日本語", "本日"),
    ("a🔑b🔑c", "🔑🔑🔑abc"), ("\u0000\u0000", "\u0000"), ("ǆ", "ǅ"), ("x" * 1000, "x" * 3),
]

SPLIT_VALUES = [
    "", "a", ".", "...", "a.", ".a", "a.b", "a..b", "_a_", "first.last+tag@mail.example.org", "jürgen.müller",
    "e\u0301te\u0301", "i\u0307stanbul", "日本語 テキスト", "a1²b③c½d", "x\u200by", "a–b—c", "٣٤٥-٦", "a\u00a0b",
    "o'neil", "ab\u0000cd", "🔑x🔑", "ǅungla", "a_b-c d", "\u0660x\u0966", "ⅷ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]

LOWER_VALUES = [
    "", "abc", "ABC", "İ", "İstanbul", "ISTANBUL", "Σ", "ΣΣ", "ΑΣ", "ΑΣ.", "ΑΣ'Β", "ΑΣ'", "ΣΑ", "ΑΣΑ", "Α'Σ", "Α.Σ",
    "AΣ\u0301", "AΣ\u0301B", "\u0301Σ", "1Σ", "ʰΣ", "AʰΣ", "ΑΣ\u00ad", "ΑΣ\u200dΒ", "ΟΔΥΣΣΕΥΣ", "ẞ", "ǅ", "Ω", "K", "Å",
    "ᎠᎡ", "ⅠⅡ", "ⒶⒷ", "𐐀𐐁", "ÀÉÎÕÜ", "ǄǇǊ", "ΪΫ", "ΑΣ𝐀",
]

STRIP_VALUES = [
    "", " ", " a ", "\t\n\x0b\x0c\r a \x1c\x1d\x1e\x1f", "\x85a\xa0", "\u1680\u2000\u200aa\u2028\u2029\u202f\u205f\u3000",
    "\u200ba\u200b", "\ufeffa\ufeff", "\u180ea", "a b", "\x00a\x00",
]

ISDIGIT_VALUES = ["", "0", "0123456789", "١٢٣", "²", "①", "½", "Ⅷ", "一", "１２", "1.5", "-1", "𝟎𝟏", "🄀🄁", "⁰"]


def ranges(pred):
    out = []
    for cp in range(0x110000):
        if pred(cp):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def unicode_tables():
    word = re.compile(r"\w")

    # Case_Ignorable is not exposed by Python; probe CPython's Final_Sigma
    # handling (handle_capital_sigma), which skips case-ignorable code
    # points in both directions:
    #   "1" c "Σ"  -> ends in ς  iff c is cased and not case-ignorable;
    #   "AΣ" c "B" -> Σ gives ς  iff c is neither cased nor case-ignorable.
    # So c is case-ignorable iff neither probe gives ς.
    def case_ignorable(cp):
        c = chr(cp)
        return ("1" + c + "Σ").lower()[-1] != "ς" and ("AΣ" + c + "B").lower()[1] != "ς"

    # Cased = Lowercase or Uppercase or Lt; for one code point that is
    # islower() or isupper() or istitle().
    def cased(cp):
        c = chr(cp)
        return c.islower() or c.isupper() or c.istitle()

    lower_map = []
    for cp in range(0x110000):
        lo = chr(cp).lower()
        if lo != chr(cp) and not 0xD800 <= cp <= 0xDFFF:
            lower_map.append([cp, lo])
    return {
        "version": unicodedata.unidata_version,
        "unassigned": ranges(lambda cp: unicodedata.category(chr(cp)) == "Cn"),
        "whitespace": ranges(lambda cp: chr(cp).isspace()),
        "isdigit": ranges(lambda cp: chr(cp).isdigit()),
        "word": ranges(lambda cp: word.match(chr(cp)) is not None),
        "cased": ranges(cased),
        "case_ignorable": ranges(case_ignorable),
        "lower": lower_map,
    }


def common_info():
    with gzip.open(DJANGO_LIST, "rt", encoding="utf-8") as f:
        lines = [x.strip() for x in f.read().splitlines()]
    text = "\n".join(lines)
    return {
        "source": "Django %s, %s" % (django.get_version(), DJANGO_LIST),
        "count": len(lines),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "samples": lines[::499] + [lines[-1]],
    }


def main():
    data = {
        "generator": "internal/authn/testdata/gen_validator_vectors.py",
        "django_version": django.get_version(),
        "python_version": sys.version.split()[0],
        "cases": cases(),
        "help_texts": help_texts(),
        "quick_ratio": [{"a": a, "b": b, "ratio": SequenceMatcher(a=a, b=b).quick_ratio()} for a, b in QR_PAIRS],
        "split": [{"value": v, "parts": re.split(r"\W+", v)} for v in SPLIT_VALUES],
        "lower": [{"s": s, "lower": s.lower()} for s in LOWER_VALUES],
        "strip": [{"s": s, "strip": s.strip()} for s in STRIP_VALUES],
        "isdigit": [{"s": s, "isdigit": s.isdigit()} for s in ISDIGIT_VALUES],
        "unicode": unicode_tables(),
        "django_common_passwords": common_info(),
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n = len(data["cases"])
    print("%s: %d cases (%d newer_django_differs, %d pre_cve_differs)" % (
        OUT, n, sum(1 for c in data["cases"] if c.get("newer_django_differs")),
        sum(1 for c in data["cases"] if c.get("pre_cve_differs"))))


if __name__ == "__main__":
    main()
