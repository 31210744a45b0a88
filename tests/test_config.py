import pytest

from bridge.config import load_config, parse_config, resolve_paths
from bridge.errors import ConfigError

GOOD = {
    "store": {"url": "https://tienda.example/"},
    "erp": {
        "kind": "dragonfish",
        "endpoint": "http://10.0.0.1:8015/api.Dragonfish/",
        "cliente": "C1",
        "motivo": "VENTA WEB",
    },
}


def test_good_config_has_defaults():
    cfg = parse_config(GOOD)
    assert cfg.sync.orders_interval_s == 5 and cfg.sync.catalog_interval_s == 300
    assert cfg.erp.kind == "dragonfish" and cfg.erp.stock_field == "Disponible"


@pytest.mark.parametrize(
    "change, field",
    [
        (
            {"erp": {**GOOD["erp"], "endpoint": "http://10.0.0.1:8015/api.Dragonfish"}},
            "erp.endpoint",
        ),
        ({"erp": {**GOOD["erp"], "endpoint": "10.0.0.1:8015/"}}, "erp.endpoint"),
        ({"erp": {**GOOD["erp"], "kind": "sap"}}, "erp.kind"),
        (
            {
                "erp": {
                    **{k: v for k, v in GOOD["erp"].items() if k != "motivo"},
                    "modo_pedidos": "pedido",
                }
            },
            "erp.motivo",
        ),
        ({"sync": {"orders_interval_s": 0}}, "sync.orders_interval_s"),
        ({"sync": {"ordres_interval_s": 5}}, "sync.ordres_interval_s"),
        ({"store": {"url": "ftp://x/"}}, "store.url"),
        ({"erp": {**GOOD["erp"], "token": "abc"}}, "erp.token"),
    ],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ConfigError) as exc:
        parse_config({**GOOD, **change})
    assert exc.value.message.startswith(field), exc.value.message


def test_secret_in_file_is_refused_without_echoing_it(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[store]\nurl = "https://x/"\ntoken = "supersecret123"\n[erp]\nkind = "dragonfish"\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "supersecret123" not in exc.value.message
    assert "bridge secrets set store.token" in exc.value.message


def test_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match="no config file"):
        load_config(path)
    path.write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_paths_follow_flags_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("BRIDGE_CONFIG", raising=False)
    monkeypatch.setenv("BRIDGE_DATA_DIR", str(tmp_path / "d"))
    p = resolve_paths()
    assert p.data_dir == tmp_path / "d" and p.db_file.parent == tmp_path / "d"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.toml").write_text("")
    assert resolve_paths().config_file == tmp_path / "d" / "config.toml"
    assert resolve_paths(config=tmp_path / "x.toml").config_file == tmp_path / "x.toml"


async def test_an_edit_whose_change_notification_was_lost_still_applies(tmp_path, monkeypatch):
    """Notifications get lost (a busy folder overflows Windows' buffer; network drives;
    Wine): the watcher also looks at the file's size and time every POLL_S seconds."""
    import asyncio

    import bridge.watcher as watcher
    from tests.conftest import wait_until

    class DeafObserver:  # schedules, starts and stops, and never reports anything
        daemon = False

        def schedule(self, *args, **kwargs): ...

        def start(self): ...

        def stop(self): ...

        def join(self, timeout=None): ...

    monkeypatch.setattr(watcher, "Observer", DeafObserver)
    monkeypatch.setattr(watcher, "POLL_S", 0.1)
    path = tmp_path / "config.toml"
    path.write_text("x = 1\n")
    refused, applied = [], []

    async def apply(config):
        applied.append(config)

    w = watcher.ConfigWatcher(path, asyncio.get_running_loop(), apply, refused.append)
    w.start()
    try:
        path.write_text("x = 22\n")
        assert await wait_until(lambda: refused, 5), "the edit was never seen"
        assert "unknown" in refused[0].message and not applied
    finally:
        w.stop()
