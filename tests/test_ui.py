"""The tray app's real widgets, offscreen, against the simulators over loopback.

The tests are plain functions that run their body on a qasync loop
(`run(qloop, body())`): Qt events and asyncio callbacks both run while the body awaits.
pytest-qt's waitUntil is not used inside them (it cannot run inside a coroutine); `until`
polls instead.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

import PySide6.QtWidgets  # noqa: F401  (before qasync, which uses the binding already imported)
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from bridge.config import Paths, load_config
from bridge.secrets import SecretStore
from tests.conftest import STORE_TOKEN, needs_real_keyring, write_profile
from ui.i18n import set_language

WAIT = 30000


@pytest.fixture
def qloop(qapp):
    qapp.setQuitOnLastWindowClosed(False)  # as ui.app.main does: the tray app lives on
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()  # now, while Qt still has the loop's signal source
    asyncio.set_event_loop(None)


@pytest.fixture
def ui_profile(tmp_path, sims):
    erp, store = sims
    paths = write_profile(
        tmp_path,
        store.base_url,
        erp.base_url,
        erp.cliente,
        orders_interval_s=3600,
        catalog_interval_s=3600,
        retry_base_s=600,
    )
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.token", erp.token)
    return paths, secrets


def run(qloop, coro, timeout=90):
    return qloop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(predicate, within=WAIT / 1000, what: Any = ""):
    """Wait (on the loop) until `predicate()`; `what` names it, or says what was seen
    instead when it is a callable."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {said or predicate}")
        await asyncio.sleep(0.02)


async def start_app(paths, secrets, **kw):
    from ui.app import BridgeApp

    set_language(kw.pop("language", "en"))
    app = BridgeApp(paths, secrets=secrets, use_tray=kw.pop("use_tray", False), **kw)
    task = asyncio.ensure_future(app.run())
    await until(lambda: app.ready.is_set() or task.done(), what="app ready")
    assert not task.done(), task.exception() if task.done() else None
    await until(lambda: not any(app.controller.engine.running.values()), what="first runs")
    return app, task


async def stop_app(app, task):
    app.quit()
    assert await asyncio.wait_for(task, 30) == 0


def toolbar_button(window, action):
    bar = window.findChild(QToolBar, "mainToolbar")
    return bar.widgetForAction(action)


def erp_has(erp, number):
    return erp.call(lambda: erp.order_by_external(number)) is not None


def test_no_tray_opens_main_window_and_sync_now_sends_order(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        try:
            w = app.window
            assert w.isVisible() and app.tray is None
            # the first runs happened at start; the next would be in an hour
            order = store.call(lambda: store.add_order())
            qtbot.mouseClick(toolbar_button(w, w.sync_action), Qt.MouseButton.LeftButton)
            await until(lambda: erp_has(erp, order["number"]), what="order in the ERP")
            await until(lambda: w.overview.title.text() == "All up to date", what="idle")
            # the live log followed it
            await until(
                lambda: any(
                    order["number"] in r.text and r.code == "order_done" for r in w.log.model.rows
                ),
                what="log line",
            )
            w.log.search.setText(order["number"])
            rows = w.log.visible_rows()
            assert len(rows) >= 3
            assert all(order["number"] in r.text + r.detail for r in rows)
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_retry_and_discard_from_error_list(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        try:
            w = app.window
            erp.faults.script("POST", "operacionecommerce", 409, 409, 409, 409, 409)
            busy = store.call(lambda: store.add_order())
            bad = store.call(
                lambda: store.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
            )
            w.sync_action.trigger()
            # (the tab's count comes from the status, read before the list in one refresh)
            await until(
                lambda: len(w.errors.errors) == 2 and w.tabs.tabText(w.TAB_ERRORS) == "Errors (2)",
                what=lambda: f"two errors: {len(w.errors.errors)}, {w.tabs.tabText(w.TAB_ERRORS)}",
            )
            w.show_tab(w.TAB_ERRORS)
            rows = {e.number: i for i, e in enumerate(w.errors.errors)}
            assert "409" in w.errors.errors[rows[busy["number"]]].message
            # retry the one the ERP was too busy for
            w.errors.select_row(rows[busy["number"]])
            assert "busy" in w.errors.detail.toPlainText()
            qtbot.mouseClick(w.errors.retry_btn, Qt.MouseButton.LeftButton)
            await until(lambda: erp_has(erp, busy["number"]), what="retried order in ERP")
            await until(lambda: len(w.errors.errors) == 1, what="one error left")
            # discard the other, with a reason
            w.errors.select_row(0)
            qtbot.mouseClick(w.errors.discard_btn, Qt.MouseButton.LeftButton)
            dialog = w.errors._dialog
            assert dialog is not None and dialog.isVisible()
            dialog.setTextValue("cliente duplicado")
            dialog.accept()
            await until(lambda: w.errors.errors == [], what="no errors")
            row = app.controller.engine.state.outbox.get(bad["id"])
            assert row.state.value == "discarded"
            assert not erp_has(erp, bad["number"])
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_a_held_sync_is_pushed_only_by_its_own_confirmed_action(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, secrets = ui_profile
    catalog = erp.catalog

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            priced = [s for s in catalog.skus() if catalog.price(s, "LISTA1") > 0]
            jumped = priced[: len(priced) // 4]

            def cents() -> None:
                for sku in jumped:
                    catalog.set_price(sku, "LISTA1", catalog.price(sku, "LISTA1") * 100)

            erp.call(cents)
            sku = jumped[0]
            old = store.call(lambda: store.products[sku]["price"])
            w.sync_action.trigger()
            await until(lambda: any(e.held for e in w.errors.errors), what="held")
            w.show_tab(w.TAB_ERRORS)
            [row] = [i for i, e in enumerate(w.errors.errors) if e.held]
            w.errors.select_row(row)
            assert w.errors.approve_btn.isVisible() and w.errors.approve_btn.isEnabled()
            # "retry all" is for orders: the held sync stays held
            qtbot.mouseClick(w.errors.retry_all_btn, Qt.MouseButton.LeftButton)
            await asyncio.sleep(0.5)
            await until(lambda: not any(app.controller.engine.running.values()), what="runs")
            assert store.call(lambda: store.products[sku]["price"]) == old
            await until(lambda: any(e.held for e in w.errors.errors), what="held again")
            [row] = [i for i, e in enumerate(w.errors.errors) if e.held]
            w.errors.select_row(row)
            # the confirmation says what would change, with examples; cancel changes nothing
            qtbot.mouseClick(w.errors.approve_btn, Qt.MouseButton.LeftButton)
            box = w.errors._dialog
            assert box is not None and box.isVisible()
            assert "quedó retenida" in box.text() and "precios" in box.text()
            assert "stock 0" not in box.text()  # no zeroed products: not mentioned
            assert any(f"{s}: precio" in box.text() for s in jumped)
            box.reject()
            await asyncio.sleep(0.3)
            assert store.call(lambda: store.products[sku]["price"]) == old
            # a newer check holds the sync again while the dialog is open: pushing the one
            # shown is refused, and the merchant is told
            qtbot.mouseClick(w.errors.approve_btn, Qt.MouseButton.LeftButton)
            stale = w.errors._dialog
            await app.controller.engine.sync_now("catalog")
            stale.findChild(type(w.errors.approve_btn), "approvePush").click()
            await until(
                lambda: (
                    w.errors._dialog is not None
                    and w.errors._dialog.objectName() == "problemDialog"
                ),
                what="told",
            )
            assert "ya no es la retenida" in w.errors._dialog.text()
            w.errors._dialog.accept()
            assert store.call(lambda: store.products[sku]["price"]) == old
            # the list shows the sync held now (not the one refused: under Wine its refresh
            # came after the next click, which approved the old one again)
            held_now = await app.controller.engine.held_catalog()
            assert held_now is not None
            await until(
                lambda: any(e.held and e.held.run_id == held_now.run_id for e in w.errors.errors),
                what=lambda: [e.held.run_id for e in w.errors.errors if e.held],
            )
            [row] = [i for i, e in enumerate(w.errors.errors) if e.held]
            w.errors.select_row(row)
            qtbot.mouseClick(w.errors.approve_btn, Qt.MouseButton.LeftButton)
            box = w.errors._dialog
            push = box.findChild(type(w.errors.approve_btn), "approvePush")
            push.click()
            new = f"{erp.call(lambda: catalog.price(sku, 'LISTA1')):.2f}"
            await until(
                lambda: store.call(lambda: store.products[sku]["price"]) == new,
                what="approved push",
            )
            await until(lambda: not any(e.held for e in w.errors.errors), what="hold resolved")
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_pause_resume_from_toolbar_in_spanish(qtbot, qloop, ui_profile, sims):
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            assert w.sync_action.iconText() == "Sincronizar ahora"
            qtbot.mouseClick(toolbar_button(w, w.pause_action), Qt.MouseButton.LeftButton)
            await until(lambda: w.pause_action.iconText() == "Reanudar", what="paused")
            assert app.controller.engine.paused
            await until(lambda: w.overview.title.text() == "En pausa", what="paused title")
            qtbot.mouseClick(toolbar_button(w, w.pause_action), Qt.MouseButton.LeftButton)
            await until(lambda: w.pause_action.iconText() == "Pausar", what="resumed")
        finally:
            await stop_app(app, task)
            set_language("en")

    run(qloop, body())


def test_tray_menu_and_state(qtbot, qloop, ui_profile, sims):
    """The tray object itself (offscreen there is no tray host: test_tray_host shows one in a
    real tray)."""
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, use_tray=True)
        tray = app.tray
        # the first runs may still be going (under Wine they were): then it is all good
        await until(lambda: tray.state == "idle", what=lambda: tray.state)
        names = [a.iconText() for a in tray.menu.actions() if a.text() and a.isVisible()]
        assert names == [
            "Bridge — All up to date",  # the state line (disabled), then the commands
            "Sync now",
            "Pause",
            "Pause for",
            "View log",
            "Errors (0)",
            "Settings",
            "Mute notifications",
            "About",
            "Quit",
        ]
        order = store.call(lambda: store.add_order())
        tray.sync_action.trigger()
        await until(lambda: erp_has(erp, order["number"]), what="order in ERP")
        erp.expire_token()
        store.call(lambda: store.add_order())
        tray.sync_action.trigger()
        # an expired token is the merchant's to fix: red, with the cause in the tooltip
        await until(lambda: tray.state == "attention", what="attention")
        assert "Needs attention" in tray.icon.toolTip()
        assert "rejects the token" in tray.icon.toolTip()
        tray.openErrors.emit()
        assert app.window.isVisible()
        assert app.window.tabs.currentIndex() == app.window.TAB_ERRORS
        tray.quit_action.trigger()
        # an order waiting for the new token is confirmed first (test_ui_state checks it)
        for box in [d for d in app.dialogs if d.objectName() == "quitDialog"]:
            next(b for b in box.buttons() if b.objectName() == "quitConfirm").click()
        assert await asyncio.wait_for(task, 30) == 0

    run(qloop, body())


def test_notifications_muted_after_start_and_snoozable(qtbot, qloop, ui_profile, sims):
    _erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, mute_after_start_s=3600)
        messages: list[tuple[str, str]] = []
        app.controller.notify.connect(lambda t, m: messages.append((t, m)))
        errors = app.window.errors
        try:
            store.call(
                lambda: store.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
            )
            app.window.sync_action.trigger()
            await until(lambda: len(errors.errors) == 1, what="first error")
            await asyncio.sleep(0.3)
            assert messages == []  # muted: Bridge started less than a minute ago
            app.controller.mute_after_start_s = 0
            store.call(
                lambda: store.add_order(buyer__tax_id="20-2", buyer__tax_condition="monotributo")
            )
            app.window.sync_action.trigger()
            await until(lambda: len(messages) == 1, what="a notification")
            assert "CUIT" in messages[0][1]
            app.controller.mute_until(time.time() + 3600)
            store.call(
                lambda: store.add_order(buyer__tax_id="20-3", buyer__tax_condition="monotributo")
            )
            app.window.sync_action.trigger()
            await until(lambda: len(errors.errors) == 3, what="third error")
            await asyncio.sleep(0.3)
            assert len(messages) == 1
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_settings_validate_and_test_connection(qtbot, qloop, ui_profile, sims):
    from ui.settings import SettingsDialog

    paths, secrets = ui_profile
    set_language("en")
    config = load_config(paths.config_file)
    dialog = SettingsDialog(paths, secrets, config)
    qtbot.addWidget(dialog)
    dialog.show()
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    endpoint = dialog.erp_page().widgets["endpoint"]
    good = endpoint.text()
    endpoint.setText(good.rstrip("/"))
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialog.problem.isVisible()
    assert dialog.problem.text() == "Server address: must end with '/'"
    assert load_config(paths.config_file).erp.endpoint == good  # nothing saved
    endpoint.setText(good)
    run(qloop, dialog.test_erp())
    assert "Price list: 'MAYOR $' is list LISTA1" in dialog.erp_result.text()
    assert "✘" not in dialog.erp_result.text()
    run(qloop, dialog.test_store())
    assert "store token" in dialog.store_result.text()
    assert "✘" not in dialog.store_result.text()
    dialog.orders_every.setValue(7)
    saved = []
    dialog.saved.connect(saved.append)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert saved and load_config(paths.config_file).sync.orders_interval_s == 7


@needs_real_keyring
def test_a_blocking_calibration_is_one_error_explained_point_by_point(qtbot, qloop, tmp_path, sims):
    erp, store = sims
    paths = write_profile(
        tmp_path,
        store.base_url,
        erp.base_url,
        erp.cliente,
        erp={"situacion_fiscal": {"consumidor_final": "5"}},
        orders_interval_s=3600,
        catalog_interval_s=3600,
    )
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.token", erp.token)

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            order = store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(
                lambda: any(str(e.subject) == "erp:calibration" for e in w.errors.errors),
                what="the calibration error",
            )
            [row] = [
                i for i, e in enumerate(w.errors.errors) if str(e.subject) == "erp:calibration"
            ]
            w.show_tab(w.TAB_ERRORS)
            w.errors.select_row(row)
            shown = w.errors.detail.toPlainText()
            assert "La instalación del ERP no coincide con la configuración" in shown
            assert (
                "Condición de IVA (consumidor final): el código 5 es 'No Responsable' en "
                "esta instalación; consumidor final es 3"
            ) in shown
            assert "(ajuste: erp.situacion_fiscal.consumidor_final)" in shown
            assert not erp_has(erp, order["number"])  # nothing written meanwhile
        finally:
            await stop_app(app, task)
            set_language("en")

    run(qloop, body())


def test_connection_test_shows_the_calibration_in_spanish(qtbot, qloop, tmp_path):
    """A misconfigured Dragonfish: "Probar conexión" says, point by point and in Spanish,
    what does not match and which setting to change."""
    from sim.dragonfish import DragonfishSimulator
    from sim.store import StoreSimulator
    from ui.settings import SettingsDialog

    erp = DragonfishSimulator(swagger_omit=("Cliente.Cuit",))
    store = StoreSimulator(token=STORE_TOKEN)
    erp.start_in_thread()
    store.start_in_thread()
    try:
        set_language("es_AR")
        paths = write_profile(
            tmp_path,
            store.base_url,
            erp.base_url,
            erp.cliente,
            erp={"lista": "MAYORISTA", "situacion_fiscal": {"consumidor_final": "5"}},
        )
        secrets = SecretStore(use_keyring=False)
        secrets.set_session("store.token", STORE_TOKEN)
        secrets.set_session("erp.token", erp.token)
        dialog = SettingsDialog(paths, secrets, load_config(paths.config_file))
        qtbot.addWidget(dialog)
        run(qloop, dialog.test_erp())
        shown = dialog.erp_result.text()
        assert "Cliente.Cuit: Cliente de esta instalación no tiene el campo 'Cuit'" in shown
        assert (
            "Lista de precios: en el ERP no hay ninguna lista de precios llamada "
            "'MAYORISTA'; sus listas son: 'MINORISTA', 'MAYOR $'"
        ) in shown
        assert (
            "Condición de IVA (consumidor final): el código 5 es 'No Responsable' en "
            "esta instalación; consumidor final es 3"
        ) in shown
        assert "(ajuste: erp.situacion_fiscal.consumidor_final)" in shown
        assert "Tipo de documento (DNI): 05 = D.N.I." in shown
    finally:
        set_language("en")
        store.stop_thread()
        erp.stop_thread()


def test_first_run_settings_put_the_secret_in_the_keyring(qtbot, qloop, tmp_path, sims):
    import uuid

    import keyring

    from ui.settings import SettingsDialog

    erp, store = sims
    set_language("en")
    paths = Paths(tmp_path / "cfg" / "config.toml", tmp_path / "data")
    secrets = SecretStore()
    assert secrets.backend.secure
    store_token = f"store-{uuid.uuid4().hex}"
    store.call(lambda: store.set_token(store_token))
    dialog = SettingsDialog(paths, secrets, None, first_run=True)
    qtbot.addWidget(dialog)
    dialog.show()
    page = dialog.erp_page()
    qtbot.keyClicks(page.widgets["endpoint"], erp.base_url)
    qtbot.keyClicks(page.widgets["cliente"], erp.cliente)
    qtbot.keyClicks(page.widgets["erp.token"], erp.token)
    qtbot.keyClicks(page.widgets["motivo"], "VENTA WEB")
    qtbot.keyClicks(dialog.store_url, store.base_url)
    qtbot.keyClicks(dialog.store_token, store_token)
    qtbot.mouseClick(
        dialog.buttons.button(dialog.buttons.StandardButton.Save), Qt.MouseButton.LeftButton
    )
    assert not dialog.problem.isVisible(), dialog.problem.text()
    try:
        assert keyring.get_password("bridge", "store.token") == store_token
        assert keyring.get_password("bridge", "erp.token") == erp.token
        text = paths.config_file.read_text()
        assert store_token not in text and erp.token not in text
        assert load_config(paths.config_file).erp.cliente == erp.cliente
        # reopened: the stored secret is not shown, only that it is set
        again = SettingsDialog(paths, secrets, load_config(paths.config_file))
        qtbot.addWidget(again)
        assert again.store_token.text() == "" and "saved" in again.store_token.placeholderText()
    finally:
        keyring.delete_password("bridge", "store.token")
        keyring.delete_password("bridge", "erp.token")


def test_first_run_offers_demo_and_it_flows(qtbot, qloop, tmp_path):
    from launcher.demo import start_demo_for_ui
    from ui.app import BridgeApp
    from ui.wizard import FirstRunDialog

    set_language("en")
    paths = Paths(tmp_path / "none" / "config.toml", tmp_path / "data")

    async def body():
        app = BridgeApp(
            paths,
            secrets=SecretStore(use_keyring=False),
            use_tray=False,
            demo_variants=200,
            demo_starter=start_demo_for_ui,
        )
        task = asyncio.ensure_future(app.run())
        await until(
            lambda: any(isinstance(d, FirstRunDialog) and d.isVisible() for d in app.dialogs),
            what="first-run dialog",
        )
        first = next(d for d in app.dialogs if isinstance(d, FirstRunDialog))
        qtbot.mouseClick(first.demo_btn, Qt.MouseButton.LeftButton)
        await until(app.ready.is_set, what="demo running")
        world = app.controller.demo
        await until(lambda: len(world.erp.orders) >= 3, what="demo orders in the ERP")
        assert "demo" in app.window.windowTitle()
        assert (tmp_path / "data" / "demo" / "state.sqlite3").exists()
        assert not paths.config_file.exists()
        await stop_app(app, task)

    run(qloop, body())


def test_every_ui_string_has_spanish():
    import json
    import re
    import sys

    root = Path(__file__).resolve().parent.parent
    catalog = json.loads((root / "resources/i18n/es_AR.json").read_text(encoding="utf-8"))
    sys.path.insert(0, str(root / "scripts"))
    from i18n_extract import ui_strings

    missing = sorted(s for s in ui_strings() if not catalog.get(s))
    assert missing == [], f"no Spanish for: {missing[:10]} (run scripts/i18n_extract.py)"
    for key, value in catalog.items():
        assert set(re.findall(r"{(\w+)}", key)) == set(re.findall(r"{(\w+)}", value)), key


def test_bridge_stop_ends_the_tray_app(qtbot, qloop, ui_profile, sims):
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        app.runtime.command("stop")  # what the instance port does on `bridge stop`
        assert await asyncio.wait_for(task, 30) == 0

    run(qloop, body())
