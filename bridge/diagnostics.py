""" "Exportar diagnóstico": one zip a merchant can send to support, with what is needed to
understand a problem and no secret in it (no Qt here; the UI and `bridge diagnostics` call
`write_zip`).

Inside: README.txt (what this is), versions.json (Bridge, Python, OS, libraries),
config.toml (the settings; the file never holds secrets, and it is redacted anyway),
keyring.json (the backend and which secrets are set — never their values), status.json
(orders per state, last runs, open errors), errors.json, events.jsonl (the last events from
the state file) and logs/ (the rotating log files).

Every member is passed through `bridge.redact` after the current secret values were
registered with it, so a token that somehow reached an event or a log line is masked too.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import re
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import tomli_w

from bridge import __version__, redact
from bridge.config import SECRET_KEYS, Config, Paths, load_config
from bridge.errors import ConfigError
from bridge.secrets import SecretStore, known_secrets
from resources import resource_dir

MAX_EVENTS = 2000

# distribution name -> module (for a frozen build without the distribution's metadata)
LIBRARIES = {
    "PySide6-Essentials": "PySide6",
    "shiboken6": "shiboken6",
    "qasync": "qasync",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "keyring": "keyring",
    "SecretStorage": "secretstorage",
    "jeepney": "jeepney",
    "APScheduler": "apscheduler",
    "pydantic": "pydantic",
    "pydantic-core": "pydantic_core",
    "platformdirs": "platformdirs",
    "tenacity": "tenacity",
    "watchdog": "watchdog",
    "tomli-w": "tomli_w",
    "tzlocal": "tzlocal",
}
QT_MODULES = ("PySide6", "shiboken6")

README = """Bridge diagnostics
==================

Made by "Export diagnostics" (or `bridge diagnostics`) on {host} at {when}.
Data folder: {data_dir}
Config file: {config_file}

versions.json   Bridge, Python, operating system and library versions
config.toml     the settings (the config file never holds tokens or passwords)
keyring.json    which keyring Bridge uses and which secrets are set (never their values)
status.json     orders per state, last sync runs, open errors
errors.json     the error list
events.jsonl    the last {events} events, oldest first
logs/           Bridge's log files

Secret values known to Bridge were masked as *** in every file.
"""


def default_name(now: float | None = None) -> str:
    return time.strftime("bridge-diagnostics-%Y%m%d-%H%M%S.zip", time.localtime(now))


def clean(obj: Any) -> Any:
    """Redact every string in a JSON-like structure (before it is dumped, so that JSON
    escaping cannot hide a secret from the redactor)."""
    if isinstance(obj, str):
        return redact.redact(obj)
    if isinstance(obj, dict):
        return {
            clean(str(k)): (redact.MASK if str(k).lower() in SECRET_KEYS and v else clean(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def _json(obj: Any) -> str:
    return redact.redact(json.dumps(clean(obj), indent=2, ensure_ascii=False, default=str))


def versions() -> dict[str, Any]:
    libs: dict[str, str] = {}
    for dist, module in LIBRARIES.items():
        try:
            libs[dist] = metadata.version(dist)
            continue
        except metadata.PackageNotFoundError:
            pass
        if module in QT_MODULES and module not in sys.modules:
            libs[dist] = "not loaded"  # Qt-free: never imported just to be described
            continue
        try:
            libs[dist] = str(getattr(importlib.import_module(module), "__version__", "?"))
        except Exception:
            libs[dist] = "not installed"
    out: dict[str, Any] = {
        "bridge": __version__,
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "sys_platform": sys.platform,
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
        "resources": str(resource_dir()),
        "libraries": libs,
    }
    qtcore = sys.modules.get("PySide6.QtCore")
    if qtcore is not None:
        with contextlib.suppress(Exception):
            out["qt_runtime"] = qtcore.qVersion()
    return out


_SECRET_KEYS_RE = "|".join(re.escape(k) for k in SECRET_KEYS)
_SECRET_LINE = re.compile(
    rf"(?im)^(\s*(?:[\w\"'.-]*\.)?[\"']?(?:{_SECRET_KEYS_RE})[\"']?\s*=\s*).*$"
)


def config_text(paths: Paths, config: Config | None) -> tuple[str, str | None]:
    """(TOML, problem). A config that does not load is included as written, with any
    secret-looking key's value masked."""
    problem = None
    if config is None and paths.config_file.exists():
        try:
            config = load_config(paths.config_file)
        except ConfigError as exc:
            problem = exc.message
    if config is not None:
        return redact.redact(tomli_w.dumps(clean(config.to_toml()))), None
    if not paths.config_file.exists():
        return f"# no config file at {paths.config_file}\n", None
    try:
        raw = paths.config_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"# {paths.config_file} cannot be read: {exc}\n", problem
    return redact.redact(_SECRET_LINE.sub(lambda m: m.group(1) + '"***"', raw)), problem


def keyring_report(secrets: SecretStore) -> dict[str, Any]:
    info = secrets.backend
    return {
        "backend": info.name,
        "secure": info.secure,
        "detail": info.detail,
        # where each secret comes from; never its value
        "secrets": {name: secrets.source(name) or "not set" for name in known_secrets()},
    }


def _state_members(paths: Paths, status: dict[str, Any] | None, max_events: int) -> dict[str, str]:
    from bridge.engine import status_snapshot
    from bridge.state import State

    if not paths.db_file.exists():
        note = {"note": f"no state file yet at {paths.db_file}"}
        return {"status.json": _json(status or note), "errors.json": _json([]), "events.jsonl": ""}
    # a look from outside (Bridge may be running on it): a damaged file is not moved aside
    state = State(paths.db_file, recover=False)
    try:
        snap = dict(status) if status is not None else status_snapshot(state).to_json()
        snap["recent_runs"] = state.runs.recent(50)
        errors = state.errors.recent("open", 500)
        events = state.events.since(0, max_events)
    finally:
        state.close()
    lines = []
    for ev in events:
        data = ev.get("data")
        if isinstance(data, str):
            with contextlib.suppress(ValueError):
                ev["data"] = json.loads(data)
        ev["time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.get("ts") or 0))
        lines.append(redact.redact(json.dumps(clean(ev), ensure_ascii=False, default=str)))
    return {
        "status.json": _json(snap),
        "errors.json": _json(errors),
        "events.jsonl": "\n".join(lines) + ("\n" if lines else ""),
    }


def write_zip(
    paths: Paths,
    out: Path,
    config: Config | None = None,
    *,
    secrets: SecretStore | None = None,
    status: dict[str, Any] | None = None,
    max_events: int = MAX_EVENTS,
) -> Path:
    """Write the diagnostics zip to `out` (a folder: a dated name in it). Returns its path."""
    secrets = secrets or SecretStore()
    # every secret Bridge can see is registered with the redactor before anything is read
    secrets.register_all()
    out = Path(out)
    if out.is_dir():
        out = out / default_name()
    members: dict[str, str] = {}
    members["README.txt"] = redact.redact(
        README.format(
            host=platform.node(),
            when=time.strftime("%Y-%m-%d %H:%M:%S"),
            data_dir=paths.data_dir,
            config_file=paths.config_file,
            events=max_events,
        )
    )
    members["versions.json"] = _json(versions())
    toml_text, problem = config_text(paths, config)
    members["config.toml"] = toml_text
    if problem:
        members["config-problem.txt"] = redact.redact(problem + "\n")
    try:
        members["keyring.json"] = _json(keyring_report(secrets))
    except Exception as exc:  # a broken keyring is itself a finding
        members["keyring.json"] = _json({"error": f"{type(exc).__name__}: {exc}"})
    try:
        members.update(_state_members(paths, status, max_events))
    except Exception as exc:
        members["state-problem.txt"] = redact.redact(f"{type(exc).__name__}: {exc}\n")
    if paths.log_dir.is_dir():
        for log_file in sorted(paths.log_dir.glob("bridge.log*")):
            try:
                text = log_file.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                text = f"(cannot be read: {exc})\n"
            members[f"logs/{log_file.name}"] = redact.redact(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("utf-8"))
    os.replace(tmp, out)
    return out
