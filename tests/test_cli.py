"""The `bridge` command as a real process: exit codes, status, doctor, headless run with
signals and live config, and a SIGKILL between "sent to the ERP" and "reported"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def cli_profile(tmp_path, sims, order_mode):
    erp, store = sims
    paths = write_profile(
        tmp_path,
        store.base_url,
        erp.base_url,
        erp.cliente,
        erp={"modo_pedidos": order_mode},
        orders_interval_s=1,
    )
    return paths, child_env(paths, erp)


def bridge(env, *args, timeout=60, **kw):
    return subprocess.run(
        [*BRIDGE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def outbox_state(paths, oid):
    if not paths.db_file.exists():
        return None
    db = sqlite3.connect(f"file:{paths.db_file}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT state FROM outbox WHERE store_order_id=?", (oid,)).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:  # the schema is being created
        return None
    finally:
        db.close()


def test_sync_all_exit_code_and_one_summary_line(cli_profile, sims):
    _paths, env = cli_profile
    erp, store = sims
    order = store.call(lambda: store.add_order())
    r = bridge(env, "sync", "all")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and "orders: ok" in lines[0] and "catalog: ok" in lines[0]
    [created] = erp.call(lambda: docs_for(erp, order["number"]))
    assert erp.call(lambda: erp.order_by_external(order["number"])) == created
    # a failing item makes the exit code 1
    store.call(lambda: store.add_order(buyer__tax_id="1234", buyer__tax_condition="monotributo"))
    r = bridge(env, "sync", "orders")
    assert r.returncode == 1 and "1 failed" in r.stdout


def test_status_json(cli_profile, sims):
    _paths, env = cli_profile
    _erp, store = sims
    store.call(lambda: store.add_orders(2))
    assert bridge(env, "sync", "all").returncode == 0
    r = bridge(env, "status", "--json")
    snap = json.loads(r.stdout)
    assert snap["orders"]["counts"]["done"] == 2
    assert snap["catalog"]["last_run"]["status"] == "ok"
    assert snap["catalog"]["items_pushed"] > 0
    assert snap["errors"]["open"] == 0
    r = bridge(env, "status")
    assert "done 2" in r.stdout


def test_invalid_config_exits_2_naming_the_field(cli_profile):
    paths, env = cli_profile
    text = paths.config_file.read_text().replace("api.Dragonfish/", "api.Dragonfish")
    paths.config_file.write_text(text)
    r = bridge(env, "sync", "all")
    assert r.returncode == 2
    assert "erp.endpoint" in r.stderr and "'/'" in r.stderr


def test_doctor(cli_profile, sims):
    _paths, env = cli_profile
    r = bridge(env, "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK   ERP token: accepted" in r.stdout
    # the install was calibrated: the price list's name resolved to its code
    assert "OK   erp.lista: 'MAYOR $' = LISTA1" in r.stdout
    assert "FAIL" not in r.stdout
    bad = dict(env, BRIDGE_SECRET_STORE_TOKEN="wrong-token-123")
    r = bridge(bad, "doctor")
    assert r.returncode == 1 and "FAIL store token" in r.stdout
    assert "wrong-token-123" not in r.stdout


def test_headless_run_applies_config_live_and_stops_cleanly(cli_profile, sims):
    paths, env = cli_profile
    _erp, store = sims
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    output = Output(proc)
    try:
        order = store.call(lambda: store.add_order())
        assert wait_for(lambda: outbox_state(paths, order["id"]) == "done"), "order not done"
        # an invalid edit is refused, the old config stays (each step waits for the line the
        # service logs, not for a time: the file watcher takes longer on some systems)
        log = paths.log_dir / "bridge.log"

        def logged(text: str) -> bool:
            return log.exists() and text in log.read_text(encoding="utf-8", errors="replace")

        good = paths.config_file.read_text()
        paths.config_file.write_text(good.replace("orders_interval_s = 1", "orders_interval_s = 0"))
        assert wait_for(lambda: logged("invalid and was not applied"), timeout=30)
        order2 = store.call(lambda: store.add_order())
        assert wait_for(lambda: outbox_state(paths, order2["id"]) == "done")
        # a valid edit applies
        paths.config_file.write_text(good.replace("orders_interval_s = 1", "orders_interval_s = 2"))
        assert wait_for(lambda: logged("New settings applied"), timeout=30)
    finally:
        stop_bridge(proc, env)
        out, _ = output.text()
    assert proc.returncode == 0, out
    assert "invalid and was not applied" in out and "sync.orders_interval_s" in out
    assert "New settings applied" in out
    assert "Bridge stopped" in out


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
def test_kill_between_sent_to_erp_and_reported_no_duplicate(cli_profile, sims, order_mode):
    paths, env = cli_profile
    erp, store = sims
    erp.faults.hang_s = store.faults.hang_s = 120
    order = store.call(lambda: store.add_order())
    # the store hangs on the report: the process is killed while the order is sent_to_erp
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
        assert wait_for(lambda: outbox_state(paths, order["id"]) == "sent_to_erp")
    finally:
        proc.kill()  # SIGKILL; TerminateProcess on Windows
        proc.wait(10)
    [created] = erp.call(lambda: docs_for(erp, order["number"]))
    assert erp.call(lambda: len(erp.orders)) == 1
    store.faults.clear()
    r = bridge(env, "sync", "orders")
    assert r.returncode == 0, r.stdout + r.stderr
    assert outbox_state(paths, order["id"]) == "done"
    assert erp.call(lambda: docs_for(erp, order["number"])) == [created]
    assert erp.call(lambda: len(erp.orders)) == 1
    assert erp.count(WRITE_ROUTE[order_mode], "POST") == 1
    assert store.call(lambda: store.orders[order["id"]]["erp_status"]) == "sent"
    assert store.call(lambda: store.orders[order["id"]]["erp_reference"]) == created["Codigo"]


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
def test_kill_while_sending_is_reconciled(cli_profile, sims, order_mode):
    """SIGKILL while the ERP is still working on the order: on restart the order is looked
    up, found, and not created again."""
    paths, env = cli_profile
    erp, store = sims
    erp.faults.hang_s = 5
    order = store.call(lambda: store.add_order())
    erp.faults.script("POST", WRITE_ROUTE[order_mode], "timeout")
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    try:
        # killed once the ERP has the write (not merely once the outbox says `sending`:
        # a kill between the two would be a crash before the send, another test's case)
        assert wait_for(
            lambda: (
                outbox_state(paths, order["id"]) == "sending"
                and erp.call(lambda: erp.count(WRITE_ROUTE[order_mode], "POST")) == 1
            )
        )
    finally:
        proc.kill()  # SIGKILL; TerminateProcess on Windows
        proc.wait(10)
    # the ERP finishes the request after the client is gone
    assert wait_for(lambda: erp.call(lambda: len(erp.orders)) == 1, timeout=20)
    [created] = erp.call(lambda: docs_for(erp, order["number"]))
    r = bridge(env, "sync", "orders")
    assert r.returncode == 0, r.stdout + r.stderr
    assert outbox_state(paths, order["id"]) == "done"
    assert erp.call(lambda: docs_for(erp, order["number"])) == [created]
    assert erp.call(lambda: len(erp.orders)) == 1
    assert erp.count(WRITE_ROUTE[order_mode], "POST") == 1
    assert store.call(lambda: store.orders[order["id"]]["erp_reference"]) == created["Codigo"]


def test_demo_runs_isolated_and_status_shows_it(tmp_path):
    data = tmp_path / "data"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in ("BRIDGE_CONFIG", "BRIDGE_SECRET_STORE_TOKEN", "BRIDGE_SECRET_ERP_TOKEN"):
        env.pop(k, None)
    r = subprocess.run(
        [
            *BRIDGE,
            "--data-dir",
            str(data),
            "demo",
            "--headless",
            "--duration",
            "12",
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
    assert "created in the ERP" in r.stdout
    assert not (data / "config.toml").exists() and not (data / "state.sqlite3").exists()
    r = subprocess.run(
        [*BRIDGE, "--data-dir", str(data / "demo"), "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    snap = json.loads(r.stdout)
    assert snap["orders"]["counts"]["done"] >= 3
    assert snap["catalog"]["items_pushed"] > 0
    assert Path(snap["state_file"]).parent == data / "demo"


def test_second_start_hands_over_to_the_first(cli_profile, sims):
    paths, env = cli_profile
    _erp, store = sims
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    output = Output(proc)
    try:
        assert wait_for(lambda: (paths.data_dir / "bridge.instance.json").exists())
        second = bridge(env, "run", "--headless", timeout=30)
        assert second.returncode == 0 and "already running" in second.stdout
        # a one-shot sync does not start a second engine on the same state: it asks
        order = store.call(lambda: store.add_order())
        r = bridge(env, "sync", "orders", timeout=30)
        assert r.returncode == 0 and "asked it to sync now" in r.stdout
        assert wait_for(lambda: outbox_state(paths, order["id"]) == "done", timeout=10)
    finally:
        stop_bridge(proc, env)
        out, _ = output.text()
    assert proc.returncode == 0
    assert "Bridge was started again" in out and "asked for a sync" in out
    assert not (paths.data_dir / "bridge.instance.json").exists()


def test_tls_opt_out_is_a_warning(cli_profile):
    paths, env = cli_profile
    text = paths.config_file.read_text()
    assert "verify_tls = true" in text
    paths.config_file.write_text(text.replace("verify_tls = true", "verify_tls = false", 1))
    r = bridge(env, "doctor")
    assert "WARN store TLS: certificates are not verified" in r.stdout
    assert r.returncode == 0  # a warning, not a failure


def test_approve_shows_the_held_run_and_pushes_it_only_when_confirmed(cli_profile, sims):
    _paths, env = cli_profile
    erp, store = sims
    assert bridge(env, "sync", "catalog").returncode == 0
    catalog = erp.catalog
    priced = [s for s in catalog.skus() if catalog.price(s, "LISTA1") > 0]
    jumped = priced[: len(priced) // 4]

    def cents() -> None:  # someone typed the prices in cents
        for sku in jumped:
            catalog.set_price(sku, "LISTA1", catalog.price(sku, "LISTA1") * 100)

    erp.call(cents)
    before = store.call(lambda: {s: dict(p) for s, p in store.products.items()})
    r = bridge(env, "sync", "catalog")
    assert r.returncode == 1 and "HELD" in r.stdout
    # no number: what is held, examples, and the command to approve it; nothing pushed
    r = bridge(env, "approve")
    assert r.returncode == 1 and "was held" in r.stdout and "For example:" in r.stdout
    run = int(r.stdout.split("bridge approve ")[-1].split()[0])
    assert f"{jumped[0]}: price" in r.stdout or any(f"{s}: price" in r.stdout for s in jumped)
    # with no terminal to ask, an approval needs --yes; a wrong run number is refused
    r = bridge(env, "approve", str(run))
    assert r.returncode == 1 and "--yes" in r.stderr
    r = bridge(env, "approve", str(run + 7), "--yes")
    assert r.returncode == 1 and "not the one held now" in r.stderr
    assert store.call(lambda: {s: dict(p) for s, p in store.products.items()}) == before
    r = bridge(env, "approve", str(run), "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "\nApproved. Reading the ERP again" in r.stdout and "catalog: ok" in r.stdout
    sku = jumped[0]
    assert (
        store.call(lambda: store.products[sku]["price"])
        == f"{erp.call(lambda: catalog.price(sku, 'LISTA1')):.2f}"
    )
    r = bridge(env, "approve")
    assert r.returncode == 0 and "No catalog run is held" in r.stdout


def test_bridge_stop_ends_the_service_cleanly(cli_profile, sims):
    """`bridge stop` asks through the instance port (what a service manager or Windows,
    where SIGTERM is TerminateProcess, uses): the run ends, "stopped" is logged, no
    instance file is left; with nothing running it says so and exits 0."""
    paths, env = cli_profile
    _erp, store = sims
    r = bridge(env, "stop")
    assert r.returncode == 0 and "not running" in r.stdout
    proc = subprocess.Popen(
        [*BRIDGE, "run", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        **NEW_GROUP,
    )
    output = Output(proc)
    try:
        assert wait_for(lambda: (paths.data_dir / "bridge.instance.json").exists())
        order = store.call(lambda: store.add_order())
        assert wait_for(lambda: outbox_state(paths, order["id"]) == "done", timeout=20)
        r = bridge(env, "stop", timeout=90)
        assert r.returncode == 0 and "Bridge stopped." in r.stdout, r.stderr
        proc.wait(30)
        out, _ = output.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Asked to stop" in out and "Bridge stopped" in out and "Traceback" not in out
    assert not (paths.data_dir / "bridge.instance.json").exists()


@pytest.mark.parametrize("encoding", ["cp1252", "native"])
def test_output_in_a_narrow_encoding_loses_no_line(cli_profile, encoding):
    """A Windows console redirected to a file or a pipe writes the ANSI code page (cp1252
    on a Spanish or English Windows): Spanish goes through, an emoji becomes an escape
    instead of an UnicodeEncodeError that loses the line. `native`: whatever this system
    gives a redirected stdout (on Windows, and under Wine, the ANSI code page itself)."""
    import locale

    from bridge.state import State

    paths, env = cli_profile
    state = State(paths.db_file)
    state.errors.open(
        "orders",
        "order:x",
        kind="data",
        code="x",
        message="Pedido de Ñandú Pérez 🐦: falta el CUIT",
    )
    state.close()
    env = {k: v for k, v in env.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8")}
    if encoding != "native":
        env["PYTHONIOENCODING"] = encoding
    r = subprocess.run(
        [*BRIDGE, "status"], env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode(locale.getpreferredencoding(False) if encoding == "native" else encoding)
    assert (
        "Ñandú Pérez \\U0001f426: falta el CUIT" in out or "Ñandú Pérez 🐦: falta el CUIT" in out
    ), out
    if encoding == "cp1252":
        assert "Ñandú Pérez \\U0001f426: falta el CUIT" in out


def test_no_terminal_is_seen_where_stdin_is_the_null_device():
    """A service or a scheduled task gets the null device as stdin; on Windows isatty() is
    True for it, and a question asked there would end in EOFError."""
    code = "from bridge.cli import stdin_is_terminal; print(stdin_is_terminal())"
    r = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_pid_running_sees_a_process_end_even_before_it_is_reaped():
    """`bridge stop` waits for the process itself (an installer replaces its files next);
    a child that ended but was not waited for yet (a zombie on POSIX) has ended."""
    from bridge.instance import pid_running

    assert pid_running(os.getpid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.DEVNULL)
    assert wait_for(lambda: not pid_running(proc.pid), timeout=60)
    assert proc.wait(10) == 0
    assert not pid_running(proc.pid) and not pid_running(0)
