"""Configures Django with every password hasher, for gen_hash_vectors.py and
django_check.py. Import it before anything from django.contrib.auth."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django4_scrypt.ScryptPasswordHasher",  # Django 4.x's, copied
    "django.contrib.auth.hashers.SHA1PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
    "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
]

if not settings.configured:
    settings.configure(PASSWORD_HASHERS=HASHERS, USE_TZ=True)
    django.setup()


def versions():
    import argon2
    import bcrypt

    return {
        "django": django.get_version(),
        "argon2_cffi": argon2.__version__,
        "bcrypt": bcrypt.__version__,
        "python": sys.version.split()[0],
    }
