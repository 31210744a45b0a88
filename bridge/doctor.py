"""The doctor: is this profile ready to sync? The config, the keyring and each secret, how
each side's certificate is checked, and each connector's own checks (it reaches its server
and reads what it needs). `bridge doctor` prints it; the settings dialog's "Test" buttons
run the connectors' part of it on what is being typed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from bridge import redact
from bridge.config import Config, ErpConfigBase, Paths, StoreConfig
from bridge.engine import required_secrets
from bridge.model import Check, ErpConnector, OverHttp, StoreConnector
from bridge.registry import erp_secrets, make_erp, make_store
from bridge.secrets import SecretStore

EXPIRY_WARN_DAYS = 30

# one line of the doctor: (name, good, detail); good None is a warning, which does not fail
Show = Callable[[str, bool | None, str], None]


# a side's settings: how its certificate is checked
TlsSettings = StoreConfig | ErpConfigBase


def base_url(connector: StoreConnector | ErpConnector) -> str:
    """Where a connector reached over HTTP connects ("" for one that is not)."""
    if isinstance(connector, OverHttp) and isinstance(connector.client, httpx.AsyncClient):
        return str(connector.client.base_url)
    return ""


async def erp_url(config: ErpConfigBase) -> str:
    """Where the ERP connector of these settings connects ("" when not over the network);
    no secret is needed to know it."""
    erp = make_erp(config, dict.fromkeys(erp_secrets(config), ""))
    try:
        return base_url(erp)
    finally:
        await erp.aclose()


async def erp_checks(config: ErpConfigBase, secrets: Mapping[str, str]) -> list[Check]:
    """The ERP connector's own checks on these settings (a BridgeError when it cannot even
    begin)."""
    erp = make_erp(config, secrets)
    try:
        return await erp.checks()
    finally:
        await erp.aclose()


async def store_checks(config: StoreConfig, token: str) -> list[Check]:
    store = make_store(config, token)
    try:
        return await store.checks()
    finally:
        await store.aclose()


async def run_doctor(config: Config, paths: Paths, secrets: SecretStore, show: Show) -> bool:
    """Every check, each said through `show` (a server's answer in a detail is masked);
    True when none failed."""
    ok = True

    def say(name: str, good: bool | None, detail: str) -> None:
        nonlocal ok
        ok = ok and good is not False
        # a server's answer in a check's detail may quote a token
        show(name, good, redact.redact(detail))

    say("config", True, str(config.path))
    for side, cfg in (("store", config.store), ("erp", config.erp)):
        if not cfg.verify_tls:
            say(
                f"{side} TLS",
                None,
                f"certificates are not verified ({side}.verify_tls = "
                "false): only for a server on your own network",
            )
    say("data dir", True, str(paths.data_dir))
    info = secrets.backend
    missing = [n for n in required_secrets(config) if not secrets.get(n)]
    # without a secure keyring, secrets from the environment (a service) are still fine
    say(
        "keyring",
        True if info.secure else (False if missing else None),
        f"{info.detail} ({info.name})",
    )
    for name in required_secrets(config):
        src = secrets.source(name)
        say(
            f"secret {name}",
            src is not None,
            f"set ({src})" if src else f"not set — run `bridge secrets set {name}`",
        )
    if missing:
        return False
    store = make_store(config.store, secrets.get("store.token") or "")
    erp = make_erp(config.erp, {n: secrets.get(n) or "" for n in erp_secrets(config.erp)})
    try:
        sides: tuple[tuple[str, StoreConnector | ErpConnector, TlsSettings], ...] = (
            ("store", store, config.store),
            ("erp", erp, config.erp),
        )
        for side, connector, cfg in sides:
            url = base_url(connector)
            if url:  # a side reached over HTTP
                for name, good, detail in await tls_report(side, url, cfg):
                    say(name, good, detail)
        for check in [*await store.checks(), *await erp.checks()]:
            say(check.name, check.ok, check.detail)
    finally:
        await store.aclose()
        await erp.aclose()
    return ok


def tls_warnings(config: Config) -> list[tuple[str, str]]:
    """(side, warning) for each side whose certificates are not verified."""
    return [
        (
            side,
            f"TLS certificates of the {label} are NOT verified ({side}.verify_tls = "
            "false): acceptable only for a server on your own network with a "
            "self-signed certificate; better, pin it (pin_sha256)",
        )
        for side, label, cfg in (("store", "store", config.store), ("erp", "ERP", config.erp))
        if not cfg.verify_tls
    ]


async def tls_report(side: str, url: str, cfg: TlsSettings) -> list[tuple[str, bool | None, str]]:
    """Doctor lines (name, good, detail) on how `side`'s certificate is checked, and for a
    pinned or private-CA endpoint, the certificate the server presents now (fingerprint,
    expiry). An endpoint whose checks are off was warned about already."""
    from urllib.parse import urlsplit

    from bridge.errors import BridgeError
    from bridge.http import fetch_certificate, tls_mode

    name = f"{side} TLS"
    mode = tls_mode(cfg)
    parts = urlsplit(url)
    if parts.scheme != "https":
        local = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if mode in ("pinned", "private CA"):
            setting = "pin_sha256" if mode == "pinned" else "ca_file"
            return [
                (
                    name,
                    False,
                    f"{side}.{setting} is set, but {url} is not https://: "
                    "nothing is encrypted or checked",
                )
            ]
        if local:
            return [(name, True, f"none: {url} is on this computer")]
        return [
            (name, None, f"none: {url} is not https://, the token and the data travel unencrypted")
        ]
    if mode == "not verified":
        return []
    if mode == "verified":
        return [(name, True, "verified against the public certificate authorities")]
    how = (
        f"pinned (SHA-256 {cfg.pin_sha256})" if mode == "pinned" else f"private CA ({cfg.ca_file})"
    )
    if mode == "pinned" and cfg.ca_file:
        how += f" and private CA ({cfg.ca_file})"
    try:
        cert = await fetch_certificate(url, ca_file=cfg.ca_file, timeout_s=min(10.0, cfg.timeout_s))
    except BridgeError as exc:
        return [(name, False, f"{how}: {exc.message}")]
    lines: list[tuple[str, bool | None, str]] = []
    if mode == "pinned" and cert.fingerprint != cfg.pin_sha256:
        lines.append(
            (
                name,
                False,
                f"{how}, but the server presents a certificate whose "
                f"SHA-256 is {cert.fingerprint}: Bridge sends it nothing "
                "(if it was renewed, update pin_sha256)",
            )
        )
    else:
        lines.append((name, True, f"{how}; the server's certificate SHA-256 {cert.fingerprint}"))
    if cert.expires is None:
        lines.append((f"{side} certificate", None, "its expiry date could not be read"))
    else:
        days = (cert.expires - time.time()) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(cert.expires))
        if days < 0:
            lines.append((f"{side} certificate", False, f"expired on {when}"))
        elif days < EXPIRY_WARN_DAYS:
            lines.append((f"{side} certificate", None, f"expires on {when} (in {days:.0f} days)"))
        else:
            lines.append((f"{side} certificate", True, f"expires on {when}"))
    return lines
