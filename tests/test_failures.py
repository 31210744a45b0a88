"""Clear failures, no tracebacks (#11): what the merchant sees when the data folder is
read-only or cannot be created, the state file is damaged, the disk is full, the service is
stopped mid-run, the demo ends, or something writes junk to the instance port. Each gives
one clear line (an error in the list where the app runs), a non-zero exit code where it is
a command, and loses nothing: no order lost, none sent twice.

Most tests run `bridge` as a process: the point is what the user sees on the console."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import logging
import logging.handlers
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import Paths
from bridge.state import State
from tests.conftest import (
    NEW_GROUP,
    WRITE_ROUTE,
    Output,
    child_env,
    docs_for,
    stop_bridge,
    wait_for,
    write_profile,
)

BRIDGE = [sys.executable, "-m", "launcher"]
POSIX = os.name != "nt"


def bridge(env, *args, timeout=60, prefix=()):
    return subprocess.run(
        [*prefix, *BRIDGE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def peek(paths, sql="SELECT state, COUNT(*) FROM outbox GROUP BY state"):
    """Rows of `sql` in the state file of a Bridge that may still be starting: nothing yet
    (no file, or its schema half made) reads as no rows. For polls only."""
    if not paths.db_file.exists():
        return []
    db = sqlite3.connect(f"file:{paths.db_file}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is being created
        return []
    finally:
        db.close()


def outbox(paths, sql="SELECT state, COUNT(*) FROM outbox GROUP BY state"):
    """Rows of `sql` in the state file once Bridge has stopped: a file that cannot be read
    is an error, never "no rows" (a check for none would pass on it). A read that fails
    at once is tried again for a few seconds (a file lock the ended process has not yet
    given back)."""
    end = time.monotonic() + 10
    while True:
        db = sqlite3.connect(f"file:{paths.db_file}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:
            if time.monotonic() > end:
                raise
        finally:
            db.close()
        time.sleep(0.2)


@pytest.fixture
def cli_profile(tmp_path, sims):
    erp, store = sims
    paths = write_profile(tmp_path, store.base_url, erp.base_url, erp.cliente, orders_interval_s=1)
    return paths, child_env(paths, erp)


@pytest.fixture
def offline_profile(tmp_path):
    """A profile whose store and ERP are never reached (the command stops before)."""
    paths = write_profile(
        tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/api.Dragonfish/", "CLI"
    )
    env = dict(
        os.environ,
        BRIDGE_DATA_DIR=str(paths.data_dir),
        BRIDGE_CONFIG=str(paths.config_file),
        BRIDGE_SECRET_STORE_TOKEN="s-token",
        BRIDGE_SECRET_ERP_TOKEN="e-token",
        PYTHONUNBUFFERED="1",
    )
    env.pop("BRIDGE_DEBUG", None)
    return paths, env


def read_only_prefix():
    """How to run a command for which chmod'ed folders are read-only: root ignores modes,
    so as root the command runs without the capabilities that let it."""
    if not POSIX:
        pytest.skip("folder modes do not make a folder read-only on Windows")
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a folder cannot be made read-only")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


# -- 1. a data folder that is read-only or cannot be created ---------------------------------
COMMANDS = [("status",), ("sync", "orders"), ("run", "--headless")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_read_only_data_dir_is_one_line(offline_profile, command):
    paths, env = offline_profile
    prefix = read_only_prefix()
    State(paths.db_file).close()  # a profile that has run before
    paths.data_dir.chmod(0o500)
    try:
        r = bridge(env, *command, prefix=prefix)
    finally:
        paths.data_dir.chmod(0o700)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    [line] = lines(r.stderr)
    assert str(paths.data_dir) in line and "--data-dir" in line and "writable" in line, line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_data_dir_that_cannot_be_created_is_one_line(offline_profile, command):
    _paths, env = offline_profile
    blocker = Path(env["BRIDGE_CONFIG"])  # a file: no folder can be made under it
    data = blocker / "data"
    r = bridge(dict(env, BRIDGE_DATA_DIR=str(data)), *command)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    [line] = lines(r.stderr)
    assert f"The data folder {data} cannot be created" in line and "--data-dir" in line


def test_gui_start_with_a_data_dir_that_cannot_be_created_says_so(tmp_path, monkeypatch, qapp):
    pytest.importorskip("PySide6")
    from PySide6.QtWidgets import QMessageBox

    import ui.app

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "exec", lambda box: shown.append((box.text(), box.informativeText())) or 0
    )
    (tmp_path / "file").write_text("")
    data = tmp_path / "file" / "data"
    assert ui.app.main(Paths(tmp_path / "config.toml", data)) == 1
    [(text, detail)] = shown
    assert "data folder" in text and f"The data folder {data} cannot be created" in detail


# -- 2. a damaged state file ----------------------------------------------------------------
def damage(paths: Paths, how: str) -> None:
    db_file = paths.db_file
    wal = Path(f"{db_file}-wal")
    if how != "wal":
        # what the killed process left in the log goes into the file first: the damage is
        # the file's own
        db = sqlite3.connect(db_file)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    if how == "garbage":
        db_file.write_bytes(os.urandom(db_file.stat().st_size))
    elif how == "half":
        os.truncate(db_file, db_file.stat().st_size // 2)
    elif how == "empty":
        os.truncate(db_file, 0)
    elif how == "wal":
        assert wal.exists() and wal.stat().st_size > 0, "the killed process left no log"
        wal.write_bytes(os.urandom(wal.stat().st_size))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["garbage", "half", "empty", "wal"])
def test_damaged_state_file_is_set_aside_and_rebuilt_nothing_sent_twice(cli_profile, sims, how):
    paths, env = cli_profile
    erp, store = sims
    # orders sent and reported
    done = store.call(lambda: store.add_orders(3))
    r = bridge(env, "sync", "orders")
    assert r.returncode == 0, r.stdout + r.stderr
    # one whose send reached the ERP, but Bridge was killed before the store was told
    erp.faults.hang_s = store.faults.hang_s = 120
    in_erp = store.call(lambda: store.add_order())
    store.faults.script("POST", "erp-sync", "timeout")
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    try:
        assert wait_for(
            lambda: (
                peek(paths, f"SELECT state FROM outbox WHERE store_order_id = '{in_erp['id']}'")
                == [("sent_to_erp",)]
            )
        )
    finally:
        proc.kill()  # SIGKILL; TerminateProcess on Windows
        proc.wait(10)
    store.faults.clear()
    # and more pending
    pending = store.call(lambda: store.add_orders(2))
    assert erp.call(lambda: len(docs_for(erp, in_erp["number"]))) == 1
    damage(paths, how)

    r = bridge(env, "sync", "orders")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    [line] = lines(r.stderr)
    assert "The state file was damaged" in line and "moved aside" in line, line
    aside = sorted(paths.data_dir.glob("state.sqlite3.corrupt-*"))
    assert aside and aside[0].name.startswith("state.sqlite3.corrupt-"), aside
    if how == "wal":
        assert Path(f"{aside[0]}-wal").exists()  # kept with the file it belongs to

    orders = [*done, in_erp, *pending]
    for o in orders:
        assert erp.call(lambda o=o: len(docs_for(erp, o["number"]))) == 1, o["number"]
        assert store.call(lambda o=o: store.orders[o["id"]]["erp_status"]) == "sent"
    # every order taken into the rebuilt file was looked up before any send: the one the
    # ERP had was not even sent again (a repeat the ERP would refuse is a send all the same)
    assert erp.call(lambda: erp.count(WRITE_ROUTE["operacion"], "POST")) == len(orders)
    # found in the ERP, not sent: done, with no attempt
    row = outbox(
        paths, f"SELECT state, attempts FROM outbox WHERE store_order_id = '{in_erp['id']}'"
    )
    assert row == [("done", 0)], (row, outbox(paths, "SELECT * FROM outbox"), r.stderr)

    # the error list and the event log say what happened, with the count
    snap = json.loads(bridge(env, "status", "--json").stdout)
    [entry] = [e for e in snap["errors"]["recent"] if e["code"] == "state_rebuilt"]
    assert "3 orders pending in the store" in entry["message"], entry
    assert "1 were already there" in entry["message"], entry
    codes = [c for (c,) in outbox(paths, "SELECT code FROM events WHERE code = 'state_rebuilt'")]
    assert len(codes) == 2  # when it was set aside, and when the orders were checked
    # the mark is lifted: a new order is sent at once, no lookup needed
    assert outbox(paths, "SELECT value FROM meta WHERE key = 'rebuilt_at'") == []


def test_status_reports_a_damaged_state_file_and_leaves_it(offline_profile):
    """`bridge status` only looks (Bridge may be running on the file): it says so."""
    paths, env = offline_profile
    State(paths.db_file).close()
    paths.db_file.write_bytes(b"not a database" * 500)
    r = bridge(env, "status")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    [line] = lines(r.stderr)
    assert "is damaged" in line and "move it aside and rebuild it" in line, line
    assert not list(paths.data_dir.glob("*.corrupt-*"))


def test_quick_check_cost_on_a_100k_product_state(tmp_path, capsys):
    path = tmp_path / "state.sqlite3"
    state = State(path)
    rows = [
        (f"ART{i:06d}!C{i % 7}!T{i % 5}", i % 50, f"{1000 + i % 997}.50") for i in range(100_000)
    ]
    state.pushed.save(rows)
    state.close()
    size = path.stat().st_size
    t0 = time.perf_counter()
    State(path).close()
    opened = time.perf_counter() - t0
    db = sqlite3.connect(path)
    t0 = time.perf_counter()
    assert db.execute("PRAGMA quick_check(1)").fetchone() == ("ok",)
    check = time.perf_counter() - t0
    db.close()
    with capsys.disabled():
        print(
            f"\n  state with 100k products ({size / 1e6:.1f} MB): open {opened * 1000:.0f} ms, "
            f"of which PRAGMA quick_check ~{check * 1000:.0f} ms (warm cache)"
        )


# -- 3. a full disk -------------------------------------------------------------------------
async def test_full_disk_fails_the_run_and_loses_nothing(engine, erp_sim, store_sim):
    events = []
    engine.events.subscribe(events.append)
    orders = store_sim.add_orders(30)
    db = engine.state._db
    # SQLite reports "database or disk is full" as soon as the file would grow
    (pages,) = engine.state.query("PRAGMA page_count")[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    result = await engine.run_pipeline("orders")
    assert result.status == "failed" and "The disk is full" in result.message
    assert [e.code for e in events if e.level == "error"] == ["state_unwritable"]
    # the state is usable again once there is room: nothing lost, nothing sent twice
    db.execute("PRAGMA max_page_count = 1073741823")
    for _ in range(5):
        result = await engine.run_pipeline("orders")
        if not store_sim.pending_ids():
            break
    assert not store_sim.pending_ids(), result.message
    for o in orders:
        assert len(docs_for(erp_sim, o["number"])) == 1, o["number"]
    assert erp_sim.count(WRITE_ROUTE["operacion"], "POST") == len(orders)


class FullDisk(io.StringIO):
    def write(self, s):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_under_the_log_file_is_one_line(tmp_path, capsys):
    from bridge.events import setup_logging

    setup_logging(tmp_path / "logs")
    try:
        log = logging.getLogger("bridge.test")
        [handler] = [
            h
            for h in logging.getLogger("bridge").handlers
            if isinstance(h, logging.handlers.RotatingFileHandler)
        ]
        stream, handler.stream = handler.stream, FullDisk()
        for i in range(5):
            log.warning("line %d", i)
        err = capsys.readouterr().err
        assert "Traceback" not in err and "Logging error" not in err, err
        [line] = lines(err)
        assert "cannot write its log file" in line and os.strerror(errno.ENOSPC) in line
        handler.stream = stream  # room again: it logs again
        log.warning("after")
        handler.flush()
        assert "after" in (tmp_path / "logs" / "bridge.log").read_text()
    finally:
        setup_logging(None)


# -- 4. SIGTERM during a run ----------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_during_a_run_stops_cleanly_and_loses_nothing(cli_profile, sims, capsys):
    paths, env = cli_profile
    erp, store = sims
    erp.latency_s = 0.3  # a slow ERP: the orders run is long
    orders = store.call(lambda: store.add_orders(20))
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    output = Output(proc)
    try:
        assert wait_for(lambda: sum(n for s, n in peek(paths) if s != "queued") >= 3)
        t0 = time.monotonic()
        stop_bridge(proc, env)
        stopped_in = time.monotonic() - t0
        out, err = output.text()
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "Bridge stopped" in out
    assert not (paths.data_dir / "bridge.instance.json").exists()
    # the run in progress ended, or was recorded as interrupted
    assert outbox(paths, "SELECT status FROM runs WHERE status = 'running'") == []
    left = dict(outbox(paths))
    with capsys.disabled():
        print(
            f"\n  SIGTERM during an orders run: stopped in {stopped_in:.1f} s; outbox then {left}"
        )
    # a restart does the rest: every order once
    erp.latency_s = 0
    r = bridge(env, "sync", "orders")
    assert r.returncode == 0, r.stdout + r.stderr
    for o in orders:
        assert erp.call(lambda o=o: len(docs_for(erp, o["number"]))) == 1, o["number"]
        assert store.call(lambda o=o: store.orders[o["id"]]["erp_status"]) == "sent"


# -- 5. the end of the demo -----------------------------------------------------------------
@pytest.mark.slow
def test_demo_ends_with_one_line(tmp_path):
    """5 s: the demo's orders interval, so that a scheduled run is starting as it ends."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in (
        "BRIDGE_CONFIG",
        "BRIDGE_SECRET_STORE_TOKEN",
        "BRIDGE_SECRET_ERP_TOKEN",
        "BRIDGE_DEBUG",
    ):
        env.pop(k, None)
    r = subprocess.run(
        [
            *BRIDGE,
            "--data-dir",
            str(tmp_path / "data"),
            "demo",
            "--headless",
            "--duration",
            "5",
            "--variants",
            "300",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    [line] = lines(r.stderr)
    assert line.startswith("Demo stopped: ")


# -- 6. junk on the instance port -----------------------------------------------------------
async def port_client(port: int, data: bytes | None) -> bytes:
    """One connection to the instance port: `data` sent (None: nothing), then what the
    server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if data is not None:
        writer.write(data)
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_instance_port_refuses_junk_and_keeps_serving(tmp_path, monkeypatch, caplog):
    from bridge import instance

    monkeypatch.setattr(instance, "CLIENT_TIMEOUT_S", 0.5, raising=False)
    lock = instance.InstanceLock(tmp_path)
    assert lock.acquire()
    commands: list[str] = []
    await lock.serve(commands.append)
    port = instance.running_info(tmp_path)["port"]

    caplog.set_level(logging.WARNING)
    try:
        # one huge line (over 64 KiB)
        assert await port_client(port, b"x" * 100_000 + b"\n") == b""
        assert await port_client(port, os.urandom(200) + b"\n") == b"no\n"  # garbage
        assert await port_client(port, None) == b""  # connects and never writes
        assert await port_client(port, f"{lock.token} sync\n".encode()) == b"ok\n"
        assert await asyncio.to_thread(instance.hand_over, tmp_path, "show")
    finally:
        await lock.close()
    assert commands == ["sync", "show"]
    refused = [r.getMessage() for r in caplog.records if r.name == "bridge.instance"]
    assert len(refused) == 3 and all(m.startswith("Refused a command") for m in refused)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_instance_port_refusals_are_logged_capped(tmp_path, monkeypatch, caplog):
    """A local program that keeps connecting (1,100 idle connections made 1,020 "Refused"
    lines) must not rotate the log's history away: the first few refusals are logged each,
    then one line a period with how many more; the port keeps serving; after a quiet
    period refusals are logged each again; closing tells the count not told yet."""
    from bridge import instance

    monkeypatch.setattr(instance, "CLIENT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(instance, "REFUSALS_SUMMARY_S", 1.0, raising=False)
    lock = instance.InstanceLock(tmp_path)
    assert lock.acquire()
    commands: list[str] = []
    await lock.serve(commands.append)
    port = instance.running_info(tmp_path)["port"]

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "bridge.instance"]

    async def until(what) -> None:
        for _ in range(200):
            if what():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(lines())

    def told(said: list[str]) -> int:
        return sum(int(m.split()[1].replace(",", "")) for m in said if " more " in m)

    caplog.set_level(logging.WARNING)
    try:
        await asyncio.gather(
            *[port_client(port, None) for _ in range(20)],  # idle: refused
            *[port_client(port, b"garbage\n") for _ in range(40)],
        )
        assert await asyncio.to_thread(instance.hand_over, tmp_path, "sync")
        await until(lambda: told(lines()) == 55)  # the period ended with the count
        each = [m for m in lines() if m.startswith("Refused a command")]
        more = [m for m in lines() if m.startswith("Refused ") and " more commands " in m]
        # (two count lines if a period ended while the connections came)
        assert len(each) == 5 and 1 <= len(more) <= 2 and len(lines()) == 5 + len(more)
        await until(lambda: lock._refusals.logged == 0)  # a period without any
        before = len(lines())
        await port_client(port, b"again\n")
        assert lines()[before:] == [
            "Refused a command on the instance port: not a command with this profile's token"
        ]
        await asyncio.gather(*[port_client(port, b"more\n") for _ in range(7)])
    finally:
        await lock.close()
    assert commands == ["sync"]
    assert lines()[-1] == (
        "Refused 3 more commands on the instance port (the last: not a "
        "command with this profile's token); while they go on, their "
        "count is logged every 1 s"
    )
    assert len(lines()) <= 5 + 2 + 5 + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# -- any other error at the top of a command -----------------------------------------------
def test_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(
    offline_profile, monkeypatch, capsys
):
    from bridge import cli, redact

    paths, env = offline_profile
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("BRIDGE_DEBUG", raising=False)
    secret = "s3cret-value-123456"
    redact.register(secret)

    def boom(*a, **kw):
        raise RuntimeError(f"boom with {secret}\nsecond line")

    monkeypatch.setattr(cli, "cmd_status", boom)
    try:
        assert cli.main(["status"]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and secret not in err
        [line] = lines(err)
        assert line.startswith("Bridge stopped on an unexpected error: RuntimeError: boom with ***")
        log_text = (paths.log_dir / "bridge.log").read_text()
        assert "Traceback" in log_text and "in boom" in log_text and secret not in log_text
        # developers get the traceback
        monkeypatch.setenv("BRIDGE_DEBUG", "1")
        with pytest.raises(RuntimeError):
            cli.main(["status"])
    finally:
        from bridge.events import setup_logging

        setup_logging(None)
