"""The little of JWT that Bridge needs, with the standard library only.

Dragonfish tokens are HS256 JWTs signed with the customer's private key, with claims
`usuario`, `password` (hex HMAC-SHA256 of the Dragonfish password with that key) and `exp`.
The bridge never mints tokens: it only reads `exp` (without verifying the signature) to warn
before it passes. `make_token` is here for the simulator and the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str) -> bytes:
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def password_hmac(password: str, key: str | bytes) -> str:
    """The `password` claim: hex HMAC-SHA256 of the Dragonfish password with the key."""
    return hmac.new(_key_bytes(key), password.encode("utf-8"), hashlib.sha256).hexdigest()


def make_token(
    usuario: str, password_hmac: str, key: str | bytes, exp: int, *, exp_as_string: bool = False
) -> str:
    """An HS256 JWT as Dragonfish issues them. `exp_as_string`: write `exp` as a JSON string
    (`"1846340343"`), as some real tokens do."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, Any] = {
        "usuario": usuario,
        "password": password_hmac,
        "exp": str(int(exp)) if exp_as_string else int(exp),
    }
    signing_input = ".".join(
        _b64encode(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in (header, claims)
    )
    signature = hmac.new(_key_bytes(key), signing_input.encode("ascii"), hashlib.sha256)
    return f"{signing_input}.{_b64encode(signature.digest())}"


def read_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, NOT verified. ValueError if `token` is not a JWT."""
    if not isinstance(token, str):
        raise ValueError("the token is not text")
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ValueError("a JWT has three dot-separated parts")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        _b64decode(parts[2])
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"the token is not a JWT ({exc})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the token's header or payload is not a JSON object")
    return claims
