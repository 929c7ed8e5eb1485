#!/usr/bin/python3
"""Generate Django auth fixtures for the `gateway import-django FILE` tests.

This script uses a REAL Django installation (Debian's python3-django 3.2, with
the argon2 and bcrypt libraries) to build a throwaway project in a temporary
directory, populate the auth tables the normal way, and dump them exactly as
`manage.py dumpdata` would.

Files produced (next to this script, i.e. internal/djangoimport/testdata/):

  auth.json          `manage.py dumpdata auth contenttypes --indent 2`
                     (integer primary keys, foreign keys as integer pks)
  auth_natural.json  `manage.py dumpdata auth contenttypes --indent 2
                      --natural-foreign --natural-primary`
                     (no "pk" on contenttype/permission/group/user objects,
                      foreign keys as natural-key lists)
  expected.json      What an importer must reproduce, as computed by Django
                     itself: the full permission list and, per user, the
                     plaintext password (null when unusable), flags, groups,
                     direct permissions, user.get_all_permissions() and
                     user.check_password(plaintext).

Project layout built in the temp dir:
  * app `blog`: models Post (extra permission blog.can_publish) and Comment.
  * app `shop`: model Order with default_permissions = (add, change, view)
    (so there is NO shop.delete_order) plus shop.refund_order.
  * PASSWORD_HASHERS: PBKDF2 (sha256), PBKDF2SHA1, Argon2, BCryptSHA256.
  * Migrations are generated with makemigrations and applied with migrate, so
    content types and permissions are created by Django's post_migrate hooks.

Determinism: all salts are fixed (make_password(..., salt=...)), all dates
are fixed, and object creation order is fixed, so re-running produces
byte-identical files. The only intrinsically random value Django produces,
the suffix of the unusable password written by set_unusable_password()
("!" + 40 random chars), is replaced after the call by a fixed string of the
same shape, which Django still treats as unusable.

Re-run from the repository root with Debian's interpreter (NOT the pyenv
`python3` on PATH, which has no Django):

    /usr/bin/python3 internal/djangoimport/testdata/gen_fixture.py
"""

import datetime
import io
import json
import os
import shutil
import sys
import tempfile

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

UTC = datetime.timezone.utc


def dt(*args):
    return datetime.datetime(*args, tzinfo=UTC)


APPS = {
    "blog": '''\
from django.db import models


class Post(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        permissions = [("can_publish", "Can publish posts")]


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE)
    text = models.TextField()
''',
    "shop": '''\
from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=32)

    class Meta:
        default_permissions = ("add", "change", "view")
        permissions = [("refund_order", "Can refund orders")]
''',
}

GROUPS = [
    ("editors", ["blog.change_post", "blog.view_post", "blog.can_publish"]),
    ("shop_staff", ["shop.view_order", "shop.change_order", "shop.refund_order"]),
    ("nobody", []),
    ("Équipe support", ["auth.view_user", "blog.view_comment"]),
]

# Fixed salts. PBKDF2/Argon2 salts must not contain "$". The bcrypt salt is a
# full bcrypt salt string ("$2b$<cost>$" + 22 chars of bcrypt base64); Django's
# default cost for BCryptSHA256PasswordHasher is 12.
USERS = [
    dict(
        username="alice",
        password="alice-Pa55word!",
        hasher="pbkdf2_sha256",
        salt="aliceSaltFixed0123456A",
        is_active=True, is_staff=False, is_superuser=False,
        first_name="Alice", last_name="Liddell", email="alice@example.com",
        groups=["editors"], perms=["blog.add_comment"],
        # microseconds on purpose: dumpdata truncates them to milliseconds
        last_login=dt(2024, 1, 15, 9, 30, 0, 123456),
        date_joined=dt(2020, 1, 2, 3, 4, 5),
    ),
    dict(
        username="bob",
        password="bob-argon2-Secret",
        hasher="argon2",
        salt="bobSaltFixed0123456789",
        is_active=True, is_staff=True, is_superuser=False,
        first_name="Bob", last_name="Builder", email="bob@example.com",
        groups=["editors", "shop_staff"], perms=["shop.add_order"],
        last_login=dt(2024, 2, 1, 12, 0, 0),
        date_joined=dt(2020, 2, 3, 4, 5, 6),
    ),
    dict(
        username="carol",
        password="carol-bcrypt-Secret",
        hasher="bcrypt_sha256",
        salt=b"$2b$12$CarolSaltFixedCarolSa.",
        is_active=False, is_staff=False, is_superuser=False,
        first_name="Carol", last_name="Danvers", email="carol@example.com",
        groups=["editors"], perms=["blog.delete_post"],
        last_login=None,
        date_joined=dt(2020, 3, 4, 5, 6, 7),
    ),
    dict(
        username="root",
        password="root-sha1-Secret",
        hasher="pbkdf2_sha1",
        salt="rootSaltFixed012345678",
        is_active=True, is_staff=True, is_superuser=True,
        first_name="", last_name="", email="root@example.com",
        groups=[], perms=[],
        last_login=dt(2024, 3, 10, 23, 59, 59),
        date_joined=dt(2019, 12, 31, 23, 0, 0),
    ),
    dict(
        username="dave",
        password="dave-Inactive-Super1",
        hasher="pbkdf2_sha256",
        salt="daveSaltFixed012345678",
        is_active=False, is_staff=True, is_superuser=True,
        first_name="Dave", last_name="Bowman", email="dave@example.com",
        groups=[], perms=[],
        last_login=dt(2021, 6, 1, 8, 0, 0),
        date_joined=dt(2020, 4, 5, 6, 7, 8),
    ),
    dict(
        username="erin",
        password="erin-Plain-User9",
        hasher="pbkdf2_sha256",
        salt="erinSaltFixed012345678",
        is_active=True, is_staff=False, is_superuser=False,
        first_name="Erin", last_name="Brockovich", email="erin@example.com",
        groups=[], perms=[],
        last_login=None,
        date_joined=dt(2020, 5, 6, 7, 8, 9),
    ),
    dict(
        username="frank",
        password=None,  # set_unusable_password()
        hasher=None,
        salt=None,
        is_active=True, is_staff=False, is_superuser=False,
        first_name="Frank", last_name="Castle", email="frank@example.com",
        groups=["Équipe support", "nobody"],
        perms=["contenttypes.view_contenttype", "auth.change_group"],
        last_login=None,
        date_joined=dt(2020, 6, 7, 8, 9, 10),
    ),
    dict(
        username="zoë",
        password="zoë-Ünïcode-Pässwörd",
        hasher="pbkdf2_sha256",
        salt="zoeSaltFixed0123456789",
        is_active=True, is_staff=False, is_superuser=False,
        first_name="Zoë", last_name="Saldaña", email="",
        groups=["shop_staff"], perms=[],
        last_login=dt(2024, 4, 20, 16, 20, 0),
        date_joined=dt(2020, 7, 8, 9, 10, 11),
    ),
]

# Fixed replacement for the random suffix of set_unusable_password().
FIXED_UNUSABLE_SUFFIX = "UnusablePasswordFixedSuffix0123456789abc"


def setup_django(tmp):
    for app, models_src in APPS.items():
        d = os.path.join(tmp, app)
        os.makedirs(os.path.join(d, "migrations"))
        for name, content in (
            ("__init__.py", ""),
            ("models.py", models_src),
            (os.path.join("migrations", "__init__.py"), ""),
        ):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(content)
    sys.path.insert(0, tmp)

    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="fixture-generator-not-secret",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(tmp, "db.sqlite3"),
            }
        },
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "blog",
            "shop",
        ],
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        ],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )

    import django

    django.setup()

    from django.core.management import call_command

    quiet = io.StringIO()
    call_command("makemigrations", "blog", "shop", interactive=False,
                 verbosity=0, stdout=quiet)
    call_command("migrate", interactive=False, verbosity=0, stdout=quiet)


def perm_obj(label):
    from django.contrib.auth.models import Permission

    app_label, codename = label.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label,
                                  codename=codename)


def populate():
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    for name, perms in GROUPS:
        g = Group.objects.create(name=name)
        g.permissions.set([perm_obj(p) for p in perms])

    for spec in USERS:
        u = User(
            username=spec["username"],
            first_name=spec["first_name"],
            last_name=spec["last_name"],
            email=spec["email"],
            is_active=spec["is_active"],
            is_staff=spec["is_staff"],
            is_superuser=spec["is_superuser"],
            last_login=spec["last_login"],
            date_joined=spec["date_joined"],
        )
        if spec["password"] is None:
            u.set_unusable_password()
            assert not u.has_usable_password()
            prefix = u.password[:1]
            assert len(u.password) == 1 + len(FIXED_UNUSABLE_SUFFIX)
            u.password = prefix + FIXED_UNUSABLE_SUFFIX
            assert not u.has_usable_password()
        else:
            u.password = make_password(spec["password"], salt=spec["salt"],
                                       hasher=spec["hasher"])
            assert u.password.startswith(spec["hasher"] + "$"), u.password
        u.save()
        u.groups.set([Group.objects.get(name=n) for n in spec["groups"]])
        u.user_permissions.set([perm_obj(p) for p in spec["perms"]])


def dump(path, **kwargs):
    from django.core.management import call_command

    buf = io.StringIO()
    call_command("dumpdata", "auth", "contenttypes", indent=2, stdout=buf,
                 **kwargs)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(buf.getvalue())


def label(perm):
    return "%s.%s" % (perm.content_type.app_label, perm.codename)


def build_expected():
    import django
    from django.contrib.auth.models import Group, Permission, User

    all_perms = sorted(label(p) for p in
                       Permission.objects.select_related("content_type"))
    users = {}
    for spec in USERS:
        # Fresh instance each time (get_all_permissions() caches on the
        # object). Note user.check_password() may re-hash and save the user
        # (e.g. pbkdf2_sha1 -> pbkdf2_sha256); that is harmless here because
        # the dumps were already written.
        u = User.objects.get(username=spec["username"])
        pw = spec["password"]
        users[u.username] = {
            "password": pw,
            "is_active": u.is_active,
            "is_staff": u.is_staff,
            "is_superuser": u.is_superuser,
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "groups": sorted(g.name for g in u.groups.all()),
            "direct_permissions": sorted(
                label(p) for p in
                u.user_permissions.select_related("content_type")),
            "all_permissions": sorted(u.get_all_permissions()),
            # check_password(None) is False (frank: unusable password).
            "check_password": u.check_password(pw),
        }
        if pw is not None:
            assert users[u.username]["check_password"] is True, u.username

    groups = {
        g.name: sorted(label(p) for p in
                       g.permissions.select_related("content_type"))
        for g in Group.objects.all()
    }

    return {
        "django_version": django.get_version(),
        "permissions": all_perms,
        "groups": groups,
        "users": users,
    }


def main():
    tmp = tempfile.mkdtemp(prefix="djangoimport-fixture-")
    try:
        setup_django(tmp)
        populate()
        dump(os.path.join(OUT_DIR, "auth.json"))
        dump(os.path.join(OUT_DIR, "auth_natural.json"),
             use_natural_foreign_keys=True, use_natural_primary_keys=True)
        expected = build_expected()
        with open(os.path.join(OUT_DIR, "expected.json"), "w",
                  encoding="utf-8", newline="\n") as f:
            json.dump(expected, f, ensure_ascii=False, indent=2,
                      sort_keys=True)
            f.write("\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in ("auth.json", "auth_natural.json", "expected.json"):
        p = os.path.join(OUT_DIR, name)
        print("wrote %s (%d bytes)" % (os.path.relpath(p), os.path.getsize(p)))


if __name__ == "__main__":
    main()
