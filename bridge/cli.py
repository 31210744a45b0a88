"""`bridge` command line: the argument parser and the headless commands. The tray app,
the demo and the self-test need the UI and the simulators, which this module never
imports: the composition root (`launcher`, the `bridge` entry point) passes them in as a
`Frontend`. The tests build on these names; keep them.

    bridge run --headless            until SIGINT/SIGTERM
    bridge sync {orders,catalog,all} [--full]
    bridge status [--json]
    bridge stop                      stop the Bridge running with this profile, cleanly
    bridge approve [RUN] [--yes]     show the catalog run the guard holds; push it anyway
    bridge doctor
    bridge secrets set NAME | list | delete NAME
    bridge demo [--headless]
    bridge diagnostics [--out FILE]  a zip for support (versions, config, events, logs;
                                     no secrets)
    bridge autostart {on,off,status} start the tray app when you log in
    bridge selftest (or --selftest)  the demo offscreen: exit 0 when an order and a stock
                                     update went through (checks a build)
    bridge                           the tray app (the demo is offered with no config)

Exit codes: 0 ok (`bridge run` stopped by SIGINT/SIGTERM too), 1 some item or check failed,
or Bridge could not do its work (its data folder or state file cannot be used, the disk is
full, an unexpected error), 2 configuration error, 130 interrupted (Ctrl+C in a one-shot
command).

Failures print one line, not a traceback; an unexpected error's traceback goes to the log
file, and `--debug` (or BRIDGE_DEBUG=1) shows it on the console instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bridge import __version__, redact
from bridge.config import Config, Paths, load_config, resolve_paths
from bridge.errors import ConfigError
from bridge.events import LogFile, setup_logging
from bridge.files import StorageError, creatable_dir, writable_dir
from bridge.secrets import SecretStore, known_secrets

if TYPE_CHECKING:
    from bridge.engine import Engine

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

log = logging.getLogger("bridge.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bridge", description="Keeps the VentasxMayor store and your ERP in sync."
    )
    p.add_argument("--version", action="version", version=f"bridge {__version__}")
    p.add_argument("--config", help="config file (default: user config dir; env BRIDGE_CONFIG)")
    p.add_argument(
        "--data-dir", help="state and logs (default: user data dir; env BRIDGE_DATA_DIR)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug output")
    p.add_argument(
        "--debug",
        action="store_true",
        help="show Python tracebacks on the console (env BRIDGE_DEBUG=1)",
    )
    p.add_argument(
        "--selftest", action="store_true", help="same as `bridge selftest` (for the built bundle)"
    )
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the sync engine until stopped")
    run.add_argument("--headless", action="store_true", help="no window, no tray")
    sync = sub.add_parser("sync", help="one sync cycle, then exit")
    sync.add_argument("what", choices=["orders", "catalog", "all"])
    sync.add_argument(
        "--full", action="store_true", help="push the whole catalog, not only changes"
    )
    sync.add_argument(
        "--sku", help="with `catalog`: update only this product (ERPs that can look one up)"
    )
    st = sub.add_parser("status", help="what Bridge has done and what is pending")
    st.add_argument("--json", action="store_true")
    sub.add_parser(
        "stop",
        help="stop the Bridge running with this profile (the service or the tray app), cleanly",
    )
    appr = sub.add_parser(
        "approve",
        help="show the catalog run held by the guard (what it "
        "would change); with its number, push it anyway",
    )
    appr.add_argument("run", nargs="?", type=int, help="the held run's number, as shown")
    appr.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("doctor", help="check config, keyring and both connections")
    sec = sub.add_parser("secrets", help="tokens and passwords in the OS keyring")
    secsub = sec.add_subparsers(dest="action", required=True)
    sset = secsub.add_parser("set", help="store a secret (value read from stdin)")
    sset.add_argument("name")
    secsub.add_parser("list", help="which secrets are set, and where")
    sdel = secsub.add_parser(
        "delete",
        help="remove a secret (--all: every one Bridge keeps; "
        "the uninstaller's 'remove my data too')",
    )
    sdel.add_argument("name", nargs="?")
    sdel.add_argument("--all", action="store_true")
    demo = sub.add_parser("demo", help="try Bridge with a simulated ERP and store")
    demo.add_argument("--headless", action="store_true")
    demo.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)
    demo.add_argument("--variants", type=int, default=2000, help="size of the demo catalog")
    diag = sub.add_parser(
        "diagnostics",
        help="write a zip for support: versions, config, recent events and logs, secrets masked",
    )
    diag.add_argument(
        "--out", help="zip file or folder (default: a dated name in the current folder)"
    )
    auto = sub.add_parser("autostart", help="start Bridge when you log in")
    auto.add_argument("action", choices=["on", "off", "status"])
    selftest = sub.add_parser(
        "selftest",
        help="run the demo offscreen and exit 0 when an order and a stock update went through",
    )
    selftest.add_argument("--timeout", type=float, default=60.0)
    return p


class Frontend(Protocol):
    """What the command line hands over to the launcher: the commands that show windows
    or run the simulators."""

    def tray_app(self, paths: Paths) -> int:
        """The tray app on this profile (its first-run dialog offers the demo)."""

    def demo(
        self,
        paths: Paths,
        *,
        headless: bool,
        duration: float | None = None,
        variants: int = 2000,
        verbose: bool = False,
    ) -> int:
        """`bridge demo`: simulators and the real engine between them."""

    def selftest(self, timeout_s: float) -> int:
        """`bridge selftest`: the demo offscreen, exit 0 when it flowed."""

    def demo_available(self) -> bool:
        """Whether the demo can run here (the simulators and what they need are installed)."""


class NoFrontend:
    """`bridge.cli.main` called without the launcher: the headless commands only."""

    def _refuse(self) -> int:
        print(
            "This command needs the full Bridge: run `bridge` (or `python -m launcher`).",
            file=sys.stderr,
        )
        return EXIT_FAILED

    def tray_app(self, paths: Paths) -> int:
        return self._refuse()

    def demo(
        self,
        paths: Paths,
        *,
        headless: bool,
        duration: float | None = None,
        variants: int = 2000,
        verbose: bool = False,
    ) -> int:
        return self._refuse()

    def selftest(self, timeout_s: float) -> int:
        return self._refuse()

    def demo_available(self) -> bool:
        return False


def stdin_is_terminal() -> bool:
    """Whether a person at a terminal can answer a question. On Windows isatty() is True
    for NUL too (a character device, what a service or a scheduled task gets as stdin), so
    there the console itself is asked."""
    stream = sys.stdin
    try:
        if stream is None or not stream.isatty():
            return False
        if sys.platform == "win32":
            import ctypes
            import msvcrt

            mode = ctypes.c_ulong()
            return bool(
                ctypes.windll.kernel32.GetConsoleMode(
                    msvcrt.get_osfhandle(stream.fileno()), ctypes.byref(mode)
                )
            )
    except (OSError, ValueError):
        return False
    return True


def safe_console() -> None:
    """Every line reaches the console or the file it is redirected to, whatever its
    encoding (a Windows console redirected to a file is cp1252): a character it cannot
    hold is written as an escape instead of raising UnicodeEncodeError and losing the line."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None, frontend: Frontend | None = None) -> int:
    from bridge.memory import tune_allocator

    safe_console()
    tune_allocator()
    args = build_parser().parse_args(argv)
    paths = resolve_paths(args.config, args.data_dir)
    debug = args.debug or os.environ.get("BRIDGE_DEBUG", "") not in ("", "0")
    try:
        return dispatch(args, paths, frontend or NoFrontend())
    except StorageError as exc:
        if debug:
            raise
        if logging_to_file():
            log.error("%s", exc.message)
        print(exc.message, file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if debug:
            raise
        print("Interrupted.", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        problem = storage_problem(paths, exc)
        if problem is not None:
            if logging_to_file():
                log.error("%s", problem, exc_info=True)
            print(problem, file=sys.stderr, flush=True)
            return EXIT_FAILED
        where = log_crash(paths)
        detail = " ".join(redact.redact(str(exc)).split())
        print(
            f"Bridge stopped on an unexpected error: {type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + (
                f" (the details are in {where}; --debug shows them here)"
                if where
                else " (--debug shows the details)"
            ),
            file=sys.stderr,
            flush=True,
        )
        return EXIT_FAILED


def storage_problem(paths: Paths, exc: Exception) -> str | None:
    """The line for an SQLite error about the state file met outside the engine."""
    if not isinstance(exc, sqlite3.Error):
        return None
    from bridge.state import storage_problem as problem_of

    found = problem_of(paths.db_file, exc)
    return found.message if found else None


def logging_to_file() -> Path | None:
    """The log file the command writes to, if it set one up."""
    files = [h for h in logging.getLogger("bridge").handlers if isinstance(h, LogFile)]
    return Path(files[0].baseFilename) if files else None


def log_crash(paths: Paths) -> Path | None:
    """The traceback of the exception being handled, into the profile's log file (set up
    if the command had not). Returns the file, or None when there is none."""
    if logging_to_file() is None:
        try:
            setup_logging(paths.log_dir)
        except StorageError:
            return None
    log.critical("Unexpected error", exc_info=True)
    return logging_to_file()


def dispatch(args: argparse.Namespace, paths: Paths, frontend: Frontend) -> int:
    command = args.command
    if args.selftest or command == "selftest":
        return frontend.selftest(getattr(args, "timeout", 60.0))
    if command is None:
        return default_command(args, paths, frontend)
    if command == "demo":
        return frontend.demo(
            paths,
            headless=args.headless,
            duration=args.duration,
            variants=args.variants,
            verbose=args.verbose,
        )
    if command == "secrets":
        return cmd_secrets(args)
    if command == "status":
        return cmd_status(args, paths)
    if command == "diagnostics":
        return cmd_diagnostics(args, paths)
    if command == "autostart":
        return cmd_autostart(args)
    if command == "stop":  # needs no settings: the running Bridge has its own
        return cmd_stop(paths)
    try:
        config = load_config(paths.config_file)
    except ConfigError as exc:
        print(f"Configuration error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    writable_dir(paths.data_dir)
    setup_logging(
        paths.log_dir, "DEBUG" if args.verbose else config.logging.level, console=args.verbose
    )
    if command == "run":
        return cmd_run(config, paths, headless=args.headless)
    if command == "sync":
        return asyncio.run(cmd_sync(config, paths, args.what, args.full, args.sku))
    if command == "doctor":
        return asyncio.run(cmd_doctor(config, paths))
    if command == "approve":
        return cmd_approve(config, paths, args.run, args.yes)
    raise AssertionError(command)  # pragma: no cover


def gui_possible() -> bool:
    """A desktop to show windows on (Windows and macOS always; elsewhere an X11 or Wayland
    display, or an explicit QT_QPA_PLATFORM)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def default_command(args: argparse.Namespace, paths: Paths, frontend: Frontend) -> int:
    """Bare `bridge`: the tray app (its first-run dialog offers the demo). With no desktop,
    the headless service, or the demo in the terminal when nothing is configured."""
    if gui_possible():
        return frontend.tray_app(paths)
    if not paths.config_file.exists():
        print(f"Bridge is not configured yet (no config file at {paths.config_file}).", flush=True)
        if frontend.demo_available():
            print(
                "Starting the demo: a simulated Dragonfish ERP and a simulated store, so you "
                "can watch orders and stock flow.\n",
                flush=True,
            )
        return frontend.demo(paths, headless=True)  # else it says why it cannot run
    try:
        config = load_config(paths.config_file)
    except ConfigError as exc:
        print(f"Configuration error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    writable_dir(paths.data_dir)
    setup_logging(paths.log_dir, config.logging.level)
    return cmd_run(config, paths, headless=True)


def make_engine(config: Config, paths: Paths, secrets: SecretStore | None = None) -> Engine:
    from bridge.engine import create_engine

    engine = create_engine(config, paths, secrets)
    if engine.rebuilt_note:  # a damaged state file was moved aside
        print(engine.rebuilt_note, file=sys.stderr, flush=True)
    return engine


def already_running(paths: Paths, command: str = "show") -> int:
    from bridge.instance import hand_over

    if hand_over(paths.data_dir, command):
        what = "asked it to sync now" if command == "sync" else "it keeps running"
        print(f"Bridge is already running with this profile ({paths.data_dir}); {what}.")
        return EXIT_OK
    print(
        f"Another Bridge holds this profile ({paths.data_dir}) but does not answer; stop it first.",
        file=sys.stderr,
    )
    return EXIT_FAILED


def cmd_run(config: Config, paths: Paths, *, headless: bool) -> int:
    from bridge.instance import InstanceLock
    from bridge.service import serve

    lock = InstanceLock(paths.data_dir)
    if not lock.acquire():
        return already_running(paths)
    engine = make_engine(config, paths)
    print(
        f"Bridge {__version__} running headless; state in {paths.data_dir}. Ctrl+C stops.",
        flush=True,
    )

    async def go() -> int:
        try:
            await serve(engine, lock=lock)
        except ConfigError as exc:
            print(f"Configuration error: {exc.message}", file=sys.stderr)
            return EXIT_CONFIG
        return EXIT_OK

    try:
        return asyncio.run(go())
    finally:
        engine.close()


async def cmd_sync(
    config: Config, paths: Paths, what: str, full: bool, sku: str | None = None
) -> int:
    from bridge.instance import InstanceLock

    lock = InstanceLock(paths.data_dir)
    if not lock.acquire():
        # never a second engine on the same state: the running one does it
        return already_running(paths, "sync")
    engine = make_engine(config, paths)
    try:
        try:
            await engine.open()
        except ConfigError as exc:
            print(f"Configuration error: {exc.message}", file=sys.stderr)
            return EXIT_CONFIG
        from bridge.doctor import tls_warnings

        for side, text in tls_warnings(config):
            # stderr: stdout is the one summary line
            print(f"Warning: {text}", file=sys.stderr, flush=True)
            engine.events.warning("engine", "tls_unverified", text, side=side)
        if sku:
            if what != "catalog":
                print("--sku goes with `bridge sync catalog`", file=sys.stderr)
                return EXIT_CONFIG
            results = [await engine.sync_sku(sku)]
        else:
            results = await engine.sync_now(what, full=full)
        await engine.stop()
    finally:
        engine.close()
        await lock.close()
    line = "; ".join(r.summary() for r in results)
    print(line, flush=True)
    bad = any(r.status in ("failed", "partial", "held") for r in results)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    from bridge.diagnostics import clean
    from bridge.engine import status_snapshot
    from bridge.state import State

    if not paths.db_file.exists():
        creatable_dir(paths.data_dir)
        snap: dict[str, Any] = {
            "state_file": str(paths.db_file),
            "orders": {"counts": {}},
            "catalog": {"last_run": None, "items_pushed": 0},
            "errors": {"open": 0, "recent": []},
            "note": "no state yet",
        }
    else:
        # a look from outside: a damaged file is reported, not moved aside (Bridge may be
        # running on it)
        state = State(paths.db_file, recover=False)
        try:
            snap = status_snapshot(state).to_json()
        finally:
            state.close()
        snap["state_file"] = str(paths.db_file)
    # a state file written by an older Bridge may hold a token a server echoed
    SecretStore().register_all()
    snap = clean(snap)
    if args.json:
        print(json.dumps(snap, indent=2, default=str))
        return EXIT_OK
    print(format_status(snap))
    return EXIT_OK


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    secs = time.time() - ts
    if secs < 90:
        return f"{secs:.0f} s ago"
    if secs < 5400:
        return f"{secs / 60:.0f} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def format_status(snap: dict[str, Any]) -> str:
    lines = [f"State: {snap['state_file']}"]
    counts = snap["orders"].get("counts") or {}
    lines.append("Orders: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none yet"))
    lr = snap["orders"].get("last_run")
    if lr:
        lines.append(f"  last run {_ago(lr['finished_at'])}: {lr['message']}")
    cr = snap["catalog"].get("last_run")
    lines.append(
        f"Catalog: last run {_ago(cr['finished_at']) if cr else 'never'}"
        + (f": {cr['message']}" if cr else "")
    )
    errs = snap["errors"]
    lines.append(f"Open errors: {errs['open']}")
    for e in errs.get("recent", [])[:10]:
        lines.append(f"  #{e['id']} [{e['pipeline']}/{e['kind']}] {e['message']}")
    return "\n".join(lines)


async def cmd_doctor(config: Config, paths: Paths) -> int:
    from bridge.doctor import run_doctor

    def show(name: str, good: bool | None, detail: str) -> None:
        label = "WARN" if good is None else "OK  " if good else "FAIL"
        print(f"{label} {name}: {detail}", flush=True)

    ok = await run_doctor(config, paths, SecretStore(), show)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_diagnostics(args: argparse.Namespace, paths: Paths) -> int:
    """Works with a broken or missing config too: that is when it is needed."""
    from bridge.diagnostics import write_zip

    out = Path(args.out) if args.out else Path.cwd()
    try:
        path = write_zip(paths, out.expanduser(), None)
    except OSError as exc:
        print(f"Cannot write the diagnostics zip: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(path)
    return EXIT_OK


def profile_args(args: argparse.Namespace) -> list[str]:
    """A non-default profile given on this command line (or in the environment, which a
    login session will not have) goes into the autostart command."""
    out = []
    for flag, value, env in (
        ("--config", args.config, "BRIDGE_CONFIG"),
        ("--data-dir", args.data_dir, "BRIDGE_DATA_DIR"),
    ):
        value = value or os.environ.get(env)
        if value:
            out += [flag, str(Path(value).expanduser().resolve())]
    return out


def cmd_autostart(args: argparse.Namespace) -> int:
    from bridge import autostart

    using = autostart.backend()
    if args.action == "on":
        command = autostart.launch_command(profile_args(args))
        try:
            using.enable(command)
        except OSError as exc:
            print(f"Could not turn on autostart ({using.location()}): {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"autostart on: {using.location()}\n  runs: {' '.join(command)}")
    elif args.action == "off":
        try:
            using.disable()
        except OSError as exc:
            print(f"Could not turn off autostart ({using.location()}): {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"autostart off ({using.location()})")
    else:
        print(f"autostart {'on' if using.enabled() else 'off'} ({using.location()})")
    return EXIT_OK


def cmd_secrets(args: argparse.Namespace) -> int:
    secrets = SecretStore()
    known = known_secrets()
    if args.action == "list":
        info = secrets.backend
        print(f"keyring: {info.name} — {info.detail}")
        for name, label in known.items():
            src = secrets.source(name)
            print(f"{name:12} {label:18} {'set (' + src + ')' if src else 'not set'}")
        return EXIT_OK
    if args.action == "delete" and args.all:
        if args.name:
            print("name a secret or give --all, not both", file=sys.stderr)
            return EXIT_CONFIG
        for name in known:
            secrets.delete(name)
        print(f"deleted: {', '.join(known)}")
        return EXIT_OK
    name = args.name
    if name is None:
        print(f"name a secret ({', '.join(known)}) or give --all", file=sys.stderr)
        return EXIT_CONFIG
    if name not in known:
        print(f"unknown secret '{name}'; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_CONFIG
    if args.action == "delete":
        secrets.delete(name)
        print(f"{name} deleted")
        return EXIT_OK
    if not secrets.backend.secure:
        print(
            f"Refusing to store {name}: {secrets.backend.detail}. Bridge never writes "
            "secrets to disk in plaintext. Install/unlock the OS keyring, or set "
            f"BRIDGE_SECRET_{name.upper().replace('.', '_')} for a service.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if stdin_is_terminal():
        import getpass

        value = getpass.getpass(f"{known[name]}: ")
    else:
        value = sys.stdin.readline()
    value = value.strip()
    if not value:
        print("empty value; nothing stored", file=sys.stderr)
        return EXIT_FAILED
    where = secrets.set(name, value)
    print(f"{name} stored in the {where}")
    return EXIT_OK


def cmd_approve(config: Config, paths: Paths, run_id: int | None, yes: bool) -> int:
    """The catalog run the guard holds, with examples of what it would change; with its
    number (and a confirmation), the approval: the running Bridge (or this command, when
    none runs) reads the ERP again and pushes it if that is no worse than what was shown."""
    from bridge.catalog import approve_held, held_run
    from bridge.errors import DataError
    from bridge.instance import hand_over
    from bridge.state import State

    if not paths.db_file.exists():
        print("Nothing is held: Bridge has not synced with this profile yet.")
        return EXIT_OK
    # never the state file's recovery here: a running Bridge may be using it
    state = State(paths.db_file, recover=False)
    try:
        held = held_run(state)
        if held is None:
            print("No catalog run is held now; nothing to approve.")
            return EXIT_OK
        print("\n".join(held.summary()))
        if run_id is None:
            print(f"\nIf these changes are real, push them with: bridge approve {held.run_id}")
            return EXIT_FAILED
        if run_id != held.run_id:
            print(
                f"Run {run_id} is not the one held now (run {held.run_id} is): check the "
                "changes above, then approve that one.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if not yes:
            if not stdin_is_terminal():
                print("Not approved: confirm with --yes (no terminal to ask).", file=sys.stderr)
                return EXIT_FAILED
            try:
                answer = input(f"Push the changes of run {held.run_id} to the store? Type 'yes': ")
            except EOFError:  # the terminal closed its input (Ctrl+D / Ctrl+Z)
                answer = ""
            if answer.strip().lower() not in ("yes", "si", "sí"):
                print("Not approved.")
                return EXIT_FAILED
        try:
            approve_held(state, held.run_id)
        except DataError as exc:
            print(exc.message, file=sys.stderr)
            return EXIT_FAILED
    finally:
        state.close()
    if hand_over(paths.data_dir, "sync"):
        print(
            f"Approved. The running Bridge reads the ERP again and pushes run "
            f"{held.run_id}'s changes now (see its log)."
        )
        return EXIT_OK
    print("Approved. Reading the ERP again and pushing it:", flush=True)
    # as `bridge sync catalog`: exit 1 if it is held again (worse than what was approved)
    return asyncio.run(cmd_sync(config, paths, "catalog", False))


def cmd_stop(paths: Paths, wait_s: float = 60.0) -> int:
    """Ask the profile's running Bridge (service or tray app) to stop, and wait until it
    has: its run in progress ends or is cut short and recorded, "stopped" is logged and its
    instance file removed. For a service manager, and for Windows, where a SIGTERM would be
    TerminateProcess."""
    from bridge.instance import hand_over, pid_running, running_info

    info = running_info(paths.data_dir)
    if info is None:
        print(f"Bridge is not running with this profile ({paths.data_dir}).")
        return EXIT_OK
    if not hand_over(paths.data_dir, "stop"):
        print(
            f"A Bridge holds this profile ({paths.data_dir}) but does not answer; end it "
            "from the tray menu or the task manager.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    pid = info.get("pid")
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        # stopped: its instance file is gone and its process has ended (an installer
        # replaces the files right after)
        if running_info(paths.data_dir) is None and not (isinstance(pid, int) and pid_running(pid)):
            print("Bridge stopped.")
            return EXIT_OK
        time.sleep(0.1)
    print(f"Bridge was asked to stop but is still running after {wait_s:g} s.", file=sys.stderr)
    return EXIT_FAILED
