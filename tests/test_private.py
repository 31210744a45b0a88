"""Issue #11 items: private data kept private (data dir and files for the user only, no
credentials in URLs) and a redirect taken for what it is (a settings problem of the side
that sent it, not bad order data)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bridge.config import Paths, parse_config
from bridge.files import private_dir
from bridge.state import OrderState
from launcher.demo import demo_config_dict
from tests.conftest import WRITE_ROUTE

posix_only = pytest.mark.skipif(
    os.name == "nt",
    reason="Windows: the profile's ACL keeps the data dir private; chmod only sets read-only there",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
async def test_state_and_logs_are_the_users_only(engine, profile: Paths) -> None:
    from bridge.events import setup_logging

    await engine.sync_now("orders")
    setup_logging(profile.log_dir)
    import logging

    logging.getLogger("bridge").info("hola")
    assert mode(profile.data_dir) == 0o700
    assert mode(profile.db_file) == 0o600
    assert mode(Path(str(profile.db_file) + "-wal")) == 0o600
    assert mode(profile.log_dir) == 0o700
    assert mode(profile.log_dir / "bridge.log") == 0o600
    setup_logging(None)


@posix_only
def test_an_old_profile_is_tightened_but_a_shared_folder_is_left_alone(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    (old / "state.sqlite3").write_bytes(b"")
    old.chmod(0o755)
    private_dir(old)
    assert mode(old) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "someone-elses.txt").write_text("x")
    shared.chmod(0o1777)
    private_dir(shared)
    assert mode(shared) == 0o1777


@pytest.mark.parametrize(
    "url", ["https://user:s3cr3tpw@tienda.example/", "https://s3cr3tpw@tienda.example/"]
)
def test_a_url_with_credentials_is_refused(url: str) -> None:
    from bridge.errors import ConfigError

    data = demo_config_dict(url, "http://10.0.0.1:8015/api.Dragonfish/", "C")
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert "store.url" in exc.value.message and "keyring" in exc.value.message
    assert "s3cr3tpw" not in exc.value.message  # the refusal does not repeat it


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
async def test_an_erp_redirect_is_a_settings_problem_not_bad_data(
    engine, erp_sim, store_sim, order_mode: str
) -> None:
    o = store_sim.add_order()
    erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], 302)
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind != "data"
    [err] = [e for e in engine.state.errors.recent() if e["subject"] == f"order:{o['id']}"]
    assert err["code"] == "redirected" and "redirect" in err["message"]
    # the store is not told the order failed: nothing is wrong with it
    assert store_sim.orders[o["id"]]["erp_status"] == "pending"
