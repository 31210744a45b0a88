"""The little of JWT that Bridge needs, with the standard library only.

Dragonfish tokens are HS256 JWTs signed with the customer's private key, with claims
`usuario`, `password` (hex HMAC-SHA256 of the Dragonfish password with that key) and `exp`.
The bridge never mints tokens: it only reads `exp` (without verifying the signature) to warn
before it passes. (The simulator mints its own, in sim/jwt.py.)
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def _b64decode(part: str) -> bytes:
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


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
