#!/usr/bin/python3
"""Generate custom_user.json: a `dumpdata` fixture of a project with a
custom user model, for the import of profile fields.

Uses a REAL Django (Debian's python3-django 3.2) in a throwaway project:

  * app `accounts` with AUTH_USER_MODEL = "accounts.User", where
    class User(AbstractUser) adds department (CharField), employee_number
    (IntegerField, null), remote (BooleanField), hired (DateTimeField,
    null) and badge_color (CharField: not declared in the gateway's test
    schema, so the import reports it unmapped);
  * one group with a permission; users with fixed salts and dates, so the
    output is byte-identical on every run.

Written: `manage.py dumpdata auth contenttypes accounts.User --indent 2`.

Re-run from the repository root with Debian's interpreter:

    /usr/bin/python3 internal/djangoimport/testdata/gen_custom_user.py
"""

import datetime
import io
import os
import shutil
import sys
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "custom_user.json")
UTC = datetime.timezone.utc

MODELS = '''
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    department = models.CharField(max_length=20, blank=True)
    employee_number = models.IntegerField(null=True, blank=True)
    remote = models.BooleanField(default=False)
    hired = models.DateTimeField(null=True, blank=True)
    badge_color = models.CharField(max_length=10, blank=True)

    class Meta:
        permissions = [("view_payroll", "Can view payroll")]
'''


def main():
    tmp = tempfile.mkdtemp(prefix="gw-custom-user-")
    try:
        d = os.path.join(tmp, "accounts")
        os.makedirs(os.path.join(d, "migrations"))
        for name, content in (("__init__.py", ""), ("models.py", MODELS),
                              (os.path.join("migrations", "__init__.py"), "")):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(content)
        sys.path.insert(0, tmp)
        from django.conf import settings
        settings.configure(
            SECRET_KEY="fixture-generator-not-secret", USE_TZ=True, TIME_ZONE="UTC",
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                                   "NAME": os.path.join(tmp, "db.sqlite3")}},
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "accounts"],
            AUTH_USER_MODEL="accounts.User",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        )
        import django
        django.setup()
        from django.core.management import call_command
        quiet = io.StringIO()
        call_command("makemigrations", "accounts", interactive=False, verbosity=0, stdout=quiet)
        call_command("migrate", interactive=False, verbosity=0, stdout=quiet)

        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Group, Permission
        User = get_user_model()
        analysts = Group.objects.create(name="analysts")
        analysts.permissions.set([Permission.objects.get(codename="view_payroll")])
        for spec in [
            dict(username="ana", department="sales", employee_number=1001, remote=True,
                 hired=datetime.datetime(2019, 3, 1, 9, 0, 0, tzinfo=UTC), badge_color="red",
                 groups=[analysts]),
            dict(username="ben", department="ops", employee_number=None, remote=False,
                 hired=None, badge_color="", groups=[]),
        ]:
            groups = spec.pop("groups")
            u = User(**spec, email=spec["username"] + "@example.com",
                     date_joined=datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))
            u.password = make_password(spec["username"] + "-Pass-1234", salt=spec["username"] + "SaltFixed0123456789")
            u.save()
            u.groups.set(groups)
        buf = io.StringIO()
        call_command("dumpdata", "auth", "contenttypes", "accounts.User", indent=2, stdout=buf)
        with open(OUT, "w", encoding="utf-8", newline="\n") as f:
            f.write(buf.getvalue())
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
