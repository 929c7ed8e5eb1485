#!/usr/bin/env python3
"""A minimal app behind the djangate gateway, Python standard library + PyJWT.

It trusts who the user is ONLY through the gateway's signed upstream
assertion (a JWT in X-Gateway-Assertion), never through plain identity
headers, so it stays safe even when it can be reached without going through
the gateway.

    GATEWAY_JWKS_URL=http://127.0.0.1:8080/_gateway/.well-known/jwks.json \\
    UPSTREAM_NAME=app LISTEN=127.0.0.1:8000 python3 app.py

Needs PyJWT 2.x with cryptography (Debian: python3-jwt python3-cryptography;
pip: "pyjwt[crypto]"). Every request answers 401 without a valid assertion,
else 200 with the verified claims as JSON. See ../README.md.
"""

import json
import logging
import os
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

LEEWAY = 30  # seconds of clock skew allowed on exp, nbf and iat
MIN_REFETCH = 30  # fetch the JWKS at most this often (seconds)
MAX_KEY_AGE = 300  # refresh after this, so removed keys stop being trusted
MAX_TOKEN = 8 << 10  # assertions are well under 1 KiB
ALGORITHMS = ["EdDSA", "ES256", "RS256"]  # never "none" or HS256

log = logging.getLogger("upstream")


def key_alg(key):
    """The one algorithm a public key may verify; it follows from the key's
    type, never from the token."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return "RS256"
    return None


class JWKSClient(jwt.PyJWKClient):
    """PyJWKClient caches the key set and refetches it when a token names an
    unknown kid (the gateway may have rotated in a new key). This subclass
    adds a fetch timeout, a lock for the threaded server, and a rate limit:
    at most one fetch per MIN_REFETCH, so tokens with made-up kids cannot
    make us hammer the gateway. When a fetch fails, the keys we had stay."""

    def __init__(self, uri):
        super().__init__(uri, cache_jwk_set=True, lifespan=MAX_KEY_AGE)
        self._lock = threading.Lock()
        self._tried = None  # time.monotonic() of the last fetch attempt
        self._good = None  # the last JWKS fetched successfully

    def fetch_data(self):
        now = time.monotonic()
        if self._tried is not None and now - self._tried < MIN_REFETCH:
            if self._good is None:
                raise jwt.PyJWKClientError("JWKS unavailable; retrying later")
            return self._good
        self._tried = now
        try:
            with urllib.request.urlopen(self.uri, timeout=5) as resp:
                data = json.loads(resp.read(1 << 20))
            jwt.PyJWKSet.from_dict(data)  # reject a set with no usable key
        except Exception as e:  # network, HTTP status, JSON or key errors
            if self._good is None:
                raise jwt.PyJWKClientError(f"fetch JWKS: {e}") from e
            log.warning("jwks: %s (keeping the keys we had)", e)
            return self._good
        self._good = data
        self.jwk_set_cache.put(data)
        return data

    def get_signing_key(self, kid):
        with self._lock:
            return super().get_signing_key(kid)


def verify(jwks, token, audience, issuer):
    """Checks the assertion and returns its claims; raises jwt.PyJWTError."""
    if len(token) > MAX_TOKEN:
        raise jwt.InvalidTokenError("token too long")
    header = jwt.get_unverified_header(token)
    # typ "JWT" tells assertions apart from the gateway's access tokens (at+jwt).
    if header.get("typ") != "JWT":
        raise jwt.InvalidTokenError("typ is not JWT")
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or alg not in ALGORITHMS:
        raise jwt.InvalidTokenError("missing kid or alg not accepted")
    key = jwks.get_signing_key(kid).key
    # The allow-list is not enough on its own: the token's alg must be the
    # one of the key its kid names (PyJWT 2.6 would even raise TypeError,
    # not a PyJWTError, for an ES256 token naming an Ed25519 key).
    if key_alg(key) != alg:
        raise jwt.InvalidAlgorithmError(f"alg {alg} does not match the key")
    return jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        audience=audience,  # an assertion minted for another upstream is refused
        issuer=issuer,
        leeway=LEEWAY,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )


class Handler(BaseHTTPRequestHandler):
    jwks = audience = issuer = header = None  # set in main()

    def answer(self):
        values = self.headers.get_all(self.header) or []
        try:
            if len(values) != 1:
                raise jwt.InvalidTokenError(f"missing or repeated {self.header}")
            c = verify(self.jwks, values[0], self.audience, self.issuer)
        except jwt.PyJWTError as e:
            log.info("401 %s %s: %s", self.command, self.path, e)  # the reason is for logs only
            return self.send_json(401, {"error": "invalid_assertion"})
        except Exception:  # a bug or a library surprise: fail closed
            log.exception("401 %s %s: unexpected error", self.command, self.path)
            return self.send_json(401, {"error": "invalid_assertion"})
        self.send_json(200, {
            "sub": c["sub"], "username": c.get("username", ""), "email": c.get("email", ""),
            "groups": c.get("groups") or [], "is_staff": bool(c.get("is_staff")),
            "is_superuser": bool(c.get("is_superuser")), "backend": c.get("backend", ""),
        })

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = answer

    def send_json(self, status, doc):
        body = (json.dumps(doc) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, fmt, *args):  # access log through logging
        log.debug(fmt, *args)


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    jwks_url, audience = os.environ.get("GATEWAY_JWKS_URL"), os.environ.get("UPSTREAM_NAME")
    if not jwks_url or not audience:
        sys.exit("set GATEWAY_JWKS_URL and UPSTREAM_NAME (this upstream's name in the gateway's config)")
    Handler.jwks = JWKSClient(jwks_url)
    Handler.audience = audience
    Handler.issuer = os.environ.get("GATEWAY_ISSUER") or "djangate"
    Handler.header = os.environ.get("ASSERTION_HEADER") or "X-Gateway-Assertion"
    try:  # warm the cache; not fatal: the gateway may start later
        Handler.jwks.get_signing_keys()
    except jwt.PyJWTError as e:
        log.warning("jwks: %s (retrying on demand)", e)

    host, _, port = (os.environ.get("LISTEN") or "127.0.0.1:8000").rpartition(":")
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    log.info("listening on http://%s:%s (audience %r)", host, server.server_port, audience)
    server.serve_forever()


if __name__ == "__main__":
    main()
