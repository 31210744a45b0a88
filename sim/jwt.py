"""HS256 JSON Web Tokens as the simulated servers issue them, with the standard library only.

Written from the specs, not shared with any client: a client's reader is tested against
what this writes (tests/test_dragonfish_simulator.py), which proves something only while
the two are independent.

- The compact form (RFC 7519 section 3, RFC 7515 section 7.1): three base64url parts
  without padding, `header.claims.signature`; the header `{"alg": "HS256", "typ": "JWT"}`;
  the signature HMAC-SHA256 over `header.claims` (the ASCII of the first two parts).
- Dragonfish (shared/specs/erp-apis.md, "Token"): signed with the customer's key; claims
  `usuario`, `password` (a hex HMAC: SHA-256, the hash HS256 already signs with, of the
  Dragonfish password with that key) and `exp` (about two years ahead; **may be a JSON
  string**, e.g. `"1846340343"`). See `dragonfish_token`.
- Acqua (erp-apis.md, "Acqua", assumed): a public *read* JWT and a *write* JWT, which the client
  only passes back as Bearer tokens (sim/acqua.py chooses their claims).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

HEADER = {"alg": "HS256", "typ": "JWT"}


def _key(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def b64url(data: bytes) -> str:
    """base64url without its `=` padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _json_part(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def encode(claims: Mapping[str, Any], key: str | bytes) -> str:
    """An HS256 JWT carrying `claims`, signed with `key`."""
    signing_input = f"{_json_part(HEADER)}.{_json_part(claims)}"
    mac = hmac.new(_key(key), signing_input.encode("ascii"), hashlib.sha256)
    return f"{signing_input}.{b64url(mac.digest())}"


def claims(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWT, its signature NOT checked (a simulator reads its own
    tokens, or ones a test made with any key); None for anything that is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        decoded = json.loads(payload)
    except (binascii.Error, ValueError):  # bad base64, bad UTF-8 or bad JSON
        return None
    return decoded if isinstance(decoded, dict) else None


def password_hmac(password: str, key: str | bytes) -> str:
    """A Dragonfish token's `password` claim: the hex HMAC-SHA256 of the password."""
    return hmac.new(_key(key), password.encode("utf-8"), hashlib.sha256).hexdigest()


def dragonfish_token(
    usuario: str, password: str, key: str | bytes, exp: int, *, exp_as_string: bool = False
) -> str:
    """A Dragonfish token: `password` is the claim as it goes in (`password_hmac(...)`);
    `exp_as_string` writes `exp` as a JSON string, as some real tokens have it."""
    return encode(
        {"usuario": usuario, "password": password, "exp": str(exp) if exp_as_string else exp},
        key,
    )
