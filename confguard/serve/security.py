"""The console's security parts: password hashes, signed sessions, CSRF, login limits.

Sessions are signed cookies (itsdangerous, keyed by a secret every replica reads
from the store), HttpOnly and SameSite=Lax. Each session carries its own CSRF
token; every form posts it back and every POST is refused without it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict

from confguard.store.accounts import LoginFailures
from confguard.store.base import utcnow

SESSION_COOKIE = "confguard_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""No inline script, no inline style, nothing from elsewhere."""

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of `password`, as kept in the accounts table."""
    return _HASHER.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def stamp(password_hash: str) -> str:
    """What a session keeps of the password hash it logged in with (not the hash)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def new_token() -> str:
    """A random URL-safe token (sessions' CSRF tokens, API tokens, secrets)."""
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str) -> bool:
    """Whether a submitted token equals the expected one (in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Session(BaseModel):
    """What the session cookie holds: who (None: not logged in) and the CSRF token."""

    model_config = ConfigDict(frozen=True)

    username: str | None = None
    csrf: str
    stamp: str | None = None
    """A digest of the password hash the session logged in with."""
    expired: bool = False
    """The cookie was signed by us but is too old: the user must log in again."""

    @classmethod
    def anonymous(cls, *, expired: bool = False) -> Session:
        """A fresh session of no one, with a new CSRF token."""
        return cls(csrf=new_token(), expired=expired)


class SessionCodec:
    """Signs sessions into cookie values and reads them back, refusing old ones."""

    def __init__(self, secret: str, max_age_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="confguard-session")
        self.max_age = max_age_seconds

    def dumps(self, session: Session) -> str:
        """The signed cookie value of `session`."""
        data = {"u": session.username, "c": session.csrf, "s": session.stamp}
        return self._serializer.dumps(data)

    def loads(self, value: str | None) -> Session:
        """The session a cookie holds; a fresh anonymous one if missing or forged."""
        if not value:
            return Session.anonymous()
        try:
            data = self._serializer.loads(value, max_age=round(self.max_age))
        except SignatureExpired:
            return Session.anonymous(expired=True)
        except BadSignature:
            return Session.anonymous()
        return Session(
            username=data.get("u"), csrf=str(data.get("c")), stamp=data.get("s")
        )


class Signer:
    """Signs small payloads the console hands out and takes back (proposals)."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=purpose)

    def dumps(self, payload: object) -> str:
        """`payload`, signed."""
        return self._serializer.dumps(payload)

    def loads(self, value: str, max_age: float) -> object | None:
        """The payload, or None if the signature is wrong or too old."""
        try:
            payload: object = self._serializer.loads(value, max_age=round(max_age))
        except BadSignature:
            return None
        return payload


class LoginLimiter:
    """At most `attempts` failed logins per name and per address in `window` s.

    The failures are kept in the store (`LoginFailures`), so the limit holds across
    every replica on one database.
    """

    def __init__(
        self, failures: LoginFailures, attempts: int = 5, window: float = 300.0
    ) -> None:
        self.failures, self.attempts, self.window = failures, attempts, window

    def retry_after(self, *keys: str) -> float:
        """Seconds until another try is allowed (0: allowed now)."""
        return max((self._wait(key) for key in keys), default=0.0)

    def failed(self, *keys: str) -> None:
        """Count a failed login against each key (and drop ones too old to count)."""
        self.failures.failed(keys)
        self.failures.forget(keys, before=utcnow() - timedelta(seconds=self.window))

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of each key."""
        self.failures.forget(keys)

    def _wait(self, key: str) -> float:
        now = utcnow()
        times = self.failures.since(key, now - timedelta(seconds=self.window))
        if len(times) < self.attempts:
            return 0.0
        oldest = times[-self.attempts]
        return max(0.0, self.window - (now - oldest).total_seconds())


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "LoginLimiter",
    "Session",
    "SessionCodec",
    "Signer",
    "hash_password",
    "new_token",
    "password_matches",
    "same_token",
    "stamp",
]
