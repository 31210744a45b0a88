"""Secrets: in the OS keyring (service `bridge`), never in the config file, a log, an event
or an exception message.

Lookup order for a secret NAME (e.g. `erp.token`):
1. `BRIDGE_SECRET_<NAME>` in the environment (`BRIDGE_SECRET_ERP_TOKEN`), for services;
2. values given for this session only (the demo; or no secure keyring on this machine);
3. the OS keyring.

A keyring backend that writes plaintext (keyrings.alt) or that cannot store anything (fail,
null) is refused: secrets are then kept for the session only, and the merchant is told.
Every secret value seen is registered with `bridge.redact` so it never leaves in text.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

from bridge import redact

SERVICE = "bridge"

# Bridge's own secrets (the connectors' come from their specs: `known_secrets`)
OWN_SECRETS = {"alerts.password": "SMTP password"}


def known_secrets() -> dict[str, str]:
    """Every secret Bridge may use (keyring name -> label): the registered connectors'
    (the store's, then the ERPs'), then Bridge's own."""
    from bridge.registry import secret_labels

    return {**secret_labels(), **OWN_SECRETS}


@dataclass(frozen=True)
class BackendInfo:
    name: str
    secure: bool
    detail: str


def env_name(name: str) -> str:
    return "BRIDGE_SECRET_" + name.upper().replace(".", "_").replace("-", "_")


def backend_info() -> BackendInfo:
    """Which keyring backend would be used, and whether Bridge accepts it."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except Exception as exc:  # pragma: no cover - keyring is a dependency
        return BackendInfo("none", False, f"keyring unavailable: {exc}")
    kr = keyring.get_keyring()
    backends = list(kr.backends) if isinstance(kr, chainer.ChainerBackend) else [kr]
    names = [f"{type(b).__module__}.{type(b).__name__}" for b in backends]
    label = ", ".join(names) or "none"
    if not backends or all(isinstance(b, fail.Keyring) for b in backends):
        return BackendInfo(label, False, "no OS keyring is available")
    for b in backends:
        mod = type(b).__module__
        if mod.startswith("keyrings.alt") or "null" in mod or isinstance(b, fail.Keyring):
            return BackendInfo(
                label, False, f"{mod} is not a secure keyring (plaintext or no storage)"
            )
    return BackendInfo(label, True, "OS keyring")


class SecretStore:
    def __init__(self, *, use_keyring: bool = True) -> None:
        self.use_keyring = use_keyring
        self._session: dict[str, str] = {}
        self._lock = threading.Lock()
        self._info: BackendInfo | None = None

    @property
    def backend(self) -> BackendInfo:
        if self._info is None:
            self._info = (
                backend_info()
                if self.use_keyring
                else BackendInfo("session", False, "secrets kept for this session only")
            )
        return self._info

    def set_session(self, name: str, value: str) -> None:
        redact.register(value)
        with self._lock:
            self._session[name] = value

    def get(self, name: str) -> str | None:
        value = os.environ.get(env_name(name))
        if not value:
            with self._lock:
                value = self._session.get(name)
        if not value and self.use_keyring and self.backend.secure:
            import keyring
            from keyring.errors import KeyringError

            try:
                value = keyring.get_password(SERVICE, name)
            except KeyringError:
                value = None
        if value:
            redact.register(value)
        return value or None

    def register_all(self) -> None:
        """Register every secret this store can see with the redactor (before text that may
        hold one is shown or written: an older state file, a log). A keyring that fails is
        skipped: what it holds cannot be read by anyone else either."""
        for name in known_secrets():
            with contextlib.suppress(Exception):
                self.get(name)

    def source(self, name: str) -> str | None:
        if os.environ.get(env_name(name)):
            return "environment"
        with self._lock:
            if name in self._session:
                return "session"
        if self.use_keyring and self.backend.secure and self.get(name):
            return "keyring"
        return None

    def set(self, name: str, value: str) -> str:
        """Store a secret. Returns where it went ('keyring' or 'session')."""
        value = value.strip()
        if not value:
            raise ValueError("empty secret")
        redact.register(value)
        if self.use_keyring and self.backend.secure:
            import keyring

            keyring.set_password(SERVICE, name, value)
            return "keyring"
        self.set_session(name, value)
        return "session"

    def delete(self, name: str) -> None:
        with self._lock:
            self._session.pop(name, None)
        if self.use_keyring and self.backend.secure:
            import keyring
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(SERVICE, name)
