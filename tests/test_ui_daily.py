"""First run and everyday use (#14, point 8), through the real widgets against the
simulators: the first sync's preview with Back/Cancel, "Bridge sigue funcionando en la
bandeja" once per profile, the "Hoy" block, a pause for a chosen time that ends by itself,
quiet hours, a visible and undoable mute, the keyboard, and the History charts per day.

The pattern is tests/test_ui.py's: each body runs on a qasync loop and polls with `until`.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("PySide6")

import PySide6.QtWidgets  # noqa: F401  (before qasync, which uses the binding already imported)
from PySide6.QtCore import Qt, QTime, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QTabBar,
    QToolBar,
    QToolButton,
    QWidget,
)

from bridge.config import Paths, load_config
from bridge.secrets import SecretStore
from tests.conftest import STORE_TOKEN
from tests.test_ui import erp_has, qloop, run, start_app, stop_app, ui_profile, until
from ui.daily import day_label, in_quiet_hours, until_text
from ui.i18n import set_language
from ui.tray import Tray

__all__ = ["qloop", "ui_profile"]  # fixtures, used by name


@pytest.fixture(autouse=True)
def english_after():
    yield
    set_language("en")


@pytest.fixture
def told(monkeypatch) -> list[tuple[str, str, bool]]:
    """What the tray said in balloons (offscreen there is no tray host to show them)."""
    said: list[tuple[str, str, bool]] = []
    real = Tray.message

    def message(self: Tray, title: str, text: str, info: bool = False) -> None:
        said.append((title, text, info))
        real(self, title, text, info)

    monkeypatch.setattr(Tray, "message", message)
    return said


def hint_count(said: list[tuple[str, str, bool]]) -> int:
    return sum(1 for title, _t, _i in said if title == "Bridge sigue funcionando en la bandeja")


def bad_order(store: Any, n: int) -> dict[str, Any]:
    """An order the ERP cannot take (a CUIT that is not one): an error for the merchant."""
    return store.call(
        lambda: store.add_order(buyer__tax_id=f"20-{n}", buyer__tax_condition="monotributo")
    )


def action_named(menu: Any, text: str) -> Any:
    """A menu's action by what it shows (without its '&')."""
    menu.rebuild()
    found = [a for a in menu.actions() if a.text().replace("&", "") == text]
    assert found, [a.text() for a in menu.actions()]
    return found[0]


# -- a, b: the first sync's preview, and "Bridge keeps running in the tray" -------------------
def first_run_profile(tmp_path) -> tuple[Paths, SecretStore]:
    paths = Paths(tmp_path / "cfg" / "config.toml", tmp_path / "data")
    return paths, SecretStore(use_keyring=False)


def fill_first_run_settings(dialog: Any, erp: Any, store: Any) -> None:
    page = dialog.erp_page()
    page.widgets["endpoint"].setText(erp.base_url)
    page.widgets["cliente"].setText(erp.cliente)
    page.widgets["erp.token"].setText(erp.token)
    page.widgets["motivo"].setText("VENTA WEB")
    dialog.store_url.setText(store.base_url)
    dialog.store_token.setText(STORE_TOKEN)


def visible_of(app: Any, name: str) -> list[QWidget]:
    return [d for d in app.dialogs if d.objectName() == name and d.isVisible()]


async def open_first_run_preview(app: Any, erp: Any, store: Any) -> Any:
    """First run: "Conectar mi ERP", the settings filled in and saved, and the preview."""
    from ui.settings import SettingsDialog

    await until(lambda: visible_of(app, "firstRun"), what="first-run dialog")
    visible_of(app, "firstRun")[0].connect_btn.click()
    await until(lambda: visible_of(app, "settingsDialog"), what="settings")
    [dialog] = visible_of(app, "settingsDialog")
    assert isinstance(dialog, SettingsDialog)
    fill_first_run_settings(dialog, erp, store)
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert not dialog.problem.isVisible(), dialog.problem.text()
    await until(lambda: visible_of(app, "previewDialog"), what="preview")
    [preview] = visible_of(app, "previewDialog")
    await until(preview.start_btn.isEnabled, what="the preview made")
    return preview


def test_first_run_preview_shows_examples_and_orders_back_returns_start_syncs(
    qtbot, qloop, tmp_path, sims, told
):
    from ui.app import BridgeApp

    erp, store = sims
    catalog = erp.catalog
    changed = list(catalog.skus())[:3]
    erp.call(lambda: [catalog.set_stock(s, 777) for s in changed])
    orders = [store.call(lambda: store.add_order()) for _ in range(2)]
    paths, secrets = first_run_profile(tmp_path)
    set_language("es_AR")

    async def body():
        app = BridgeApp(paths, secrets=secrets, use_tray=True)
        task = asyncio.ensure_future(app.run())
        try:
            preview = await open_first_run_preview(app, erp, store)
            assert preview.windowTitle() == "Primera sincronización"
            # examples: the products whose stock would change, with before → after
            shown = {
                preview.products.item(r, 0).text(): preview.products.item(r, 1).text()
                for r in range(preview.products.rowCount())
            }
            assert preview.products.isVisible()
            for sku in changed:
                assert shown[sku].endswith("→ 777"), shown
            # the store's pending orders that would go to the ERP
            assert "2 pedidos confirmados" in preview.orders_label.text()
            numbers = {preview.orders.item(r, 0).text() for r in range(preview.orders.rowCount())}
            assert numbers == {o["number"] for o in orders}
            # amounts the Argentine way, as everywhere else ("$ 23.650,49")
            totals = [preview.orders.item(r, 3).text() for r in range(preview.orders.rowCount())]
            assert all(re.fullmatch(r"\$ \d{1,3}(\.\d{3})*,\d\d", t) for t in totals), totals
            prices = [
                preview.products.item(r, 2).text() for r in range(preview.products.rowCount())
            ]
            assert all(p.startswith("$ ") and "," in p for p in prices), prices
            assert app.controller is None  # nothing runs before "Empezar a sincronizar"
            assert [b.text() for b in (preview.back_btn, preview.cancel_btn)] == [
                "< &Volver",
                "&Cancelar",
            ]
            # Back: the settings again, with what was typed
            preview.back_btn.click()
            await until(lambda: visible_of(app, "settingsDialog"), what="settings again")
            assert not preview.isVisible()
            assert not app.done.is_set()  # Back is not Cancel: Bridge has not quit
            [again] = visible_of(app, "settingsDialog")
            assert again.erp_page().widgets["cliente"].text() == erp.cliente
            assert not any(erp_has(erp, o["number"]) for o in orders)
            again.buttons.button(again.buttons.StandardButton.Save).click()
            await until(lambda: visible_of(app, "previewDialog"), what="preview again")
            [preview] = visible_of(app, "previewDialog")
            await until(preview.start_btn.isEnabled, what="the preview made")
            assert preview.start_btn.text() == "&Empezar a sincronizar"
            assert hint_count(told) == 0
            preview.start_btn.click()
            await until(app.ready.is_set, what="engine running")
            assert app.controller.engine.started
            for o in orders:
                await until(lambda o=o: erp_has(erp, o["number"]), what="order in the ERP")
            # said once, as an information balloon
            await until(lambda: hint_count(told) == 1, what="the tray hint", within=5)
            assert all(info for title, _t, info in told if "bandeja" in title)
            # closing the window afterwards: already said on this profile
            app.window.show()
            app.window.close()
            await asyncio.sleep(0.3)
            assert not app.window.isVisible() and hint_count(told) == 1
            assert not task.done()
        finally:
            app.quit()
            assert await asyncio.wait_for(task, 30) == 0

    run(qloop, body())


def test_cancel_on_the_preview_quits_without_syncing(qtbot, qloop, tmp_path, sims):
    from ui.app import BridgeApp

    erp, store = sims
    order = store.call(lambda: store.add_order())
    paths, secrets = first_run_profile(tmp_path)
    set_language("es_AR")

    async def body():
        app = BridgeApp(paths, secrets=secrets, use_tray=True)
        task = asyncio.ensure_future(app.run())
        preview = await open_first_run_preview(app, erp, store)
        preview.cancel_btn.click()
        assert await asyncio.wait_for(task, 30) == 0
        assert app.controller is None and not app.ready.is_set()
        assert not erp_has(erp, order["number"])
        assert store.call(lambda: store.orders[order["id"]]["erp_status"]) == "pending"

    run(qloop, body())


def test_a_preview_that_cannot_be_made_says_why_in_spanish_and_lets_start(
    qtbot, qloop, tmp_path, sims
):
    from ui.app import BridgeApp

    erp, store = sims
    paths, secrets = first_run_profile(tmp_path)
    store.call(lambda: store.set_token("otro-token-de-la-tienda-0123456789"))
    set_language("es_AR")

    async def body():
        app = BridgeApp(paths, secrets=secrets, use_tray=True)
        task = asyncio.ensure_future(app.run())
        try:
            preview = await open_first_run_preview(app, erp, store)
            text = preview.text.text()
            assert text.startswith("No se pudo armar la vista previa: "), text
            assert "token" in text and "Error" not in text, text
            assert not preview.products.isVisible() and not preview.orders.isVisible()
            assert preview.start_btn.isEnabled()
        finally:
            app.quit()
            assert await asyncio.wait_for(task, 30) == 0

    run(qloop, body())


def test_closing_to_the_tray_says_it_keeps_running_once_per_profile(qtbot, qloop, ui_profile, told):
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, use_tray=True, language="es_AR")
        try:
            assert hint_count(told) == 0  # a normal start says nothing
            app.window.show_and_raise()
            app.window.close()
            await until(lambda: hint_count(told) == 1, what="the tray hint")
            _title, text, info = next(t for t in told if t[0].endswith("bandeja"))
            assert info and "Tocá su ícono para abrir la ventana" in text, text
            app.window.show_and_raise()
            app.window.close()
            await asyncio.sleep(0.3)
            assert hint_count(told) == 1
        finally:
            await stop_app(app, task)
        # Bridge opened again on the same profile: it is not said again
        app, task = await start_app(paths, secrets, use_tray=True, language="es_AR")
        try:
            app.window.show_and_raise()
            app.window.close()
            await asyncio.sleep(0.3)
            assert hint_count(told) == 1
        finally:
            await stop_app(app, task)

    run(qloop, body())


# -- c: "Hoy" ----------------------------------------------------------------------------------
def test_today_block_counts_orders_problems_and_the_last_stock_update(
    qtbot, qloop, ui_profile, sims
):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            today = app.window.overview.today
            assert today.title() == "Hoy"
            await until(lambda: today.orders.text() == "0", what="no orders yet")
            assert today.problems.text() == "ninguno"
            # the first sync at start sent every product
            everything = f"recién — {len(erp.catalog)} productos"
            await until(lambda: today.stock.text() == everything, what="the first sync")
            order = store.call(lambda: store.add_order())
            app.window.sync_action.trigger()
            await until(lambda: erp_has(erp, order["number"]), what="order in the ERP")
            await until(lambda: today.orders.text() == "1", what="one order in")
            assert today.problems.text() == "ninguno"
            bad_order(store, 1)
            app.window.sync_action.trigger()
            # (the error list is read before today's counts in one refresh: both shown)
            await until(
                lambda: (
                    today.problems.text() == "1 (mirá la pestaña Errores)"
                    and len(app.window.errors.errors) == 1
                ),
                what=lambda: (
                    f"one with a problem, saw {today.problems.text()!r}, "
                    f"{len(app.window.errors.errors)} in the list"
                ),
            )
            assert today.orders.text() == "2"
            # discarded (with a reason): no longer a problem today
            [error] = app.window.errors.errors
            await app.controller.discard(error.id, "CUIT mal cargado, lo hago a mano")
            await until(lambda: today.problems.text() == "ninguno", what="problem gone")
            assert today.orders.text() == "2"
            engine = app.controller.engine
            await until(lambda: not any(engine.running.values()), what="runs done")
            sku = next(iter(erp.catalog.skus()))
            await engine.sync_now("catalog")  # what the orders took from the stock
            erp.call(lambda: erp.catalog.set_stock(sku, 555))
            [result] = await engine.sync_now("catalog")
            assert result.items_ok == 1, result
            await until(
                lambda: today.stock.text().endswith("— 1 producto"),
                what=lambda: f"the stock update, saw {today.stock.text()!r}",
            )
        finally:
            await stop_app(app, task)

    run(qloop, body())


# -- d: pause for a chosen time ---------------------------------------------------------------
def test_pause_for_a_chosen_time_from_the_tray_and_the_toolbar_resumes_by_itself(
    qtbot, qloop, ui_profile, sims
):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, use_tray=True, language="es_AR")
        engine = app.controller.engine
        tray, w = app.tray, app.window
        try:
            engine.pause_check_s = 0.05
            # from the tray: "Pausar por un tiempo…" → "Por 30 minutos"
            assert tray.pause_for_action.text() == "Pausar por un &tiempo…"
            before = time.time()
            action_named(tray.pause_menu, "Por 30 minutos").trigger()
            assert engine.paused
            assert before + 1800 <= engine.paused_until <= time.time() + 1800
            end = until_text(engine.paused_until)
            await until(
                lambda: tray.pause_action.text() == f"En pausa {end} — &Reanudar",
                what=lambda: tray.pause_action.text(),
            )
            assert w.pause_action.text() == f"&Reanudar (en pausa {end})"
            assert w.overview.title.text() == "En pausa"
            # the overview says until when, and what happens to the orders meanwhile
            assert w.overview.hint.text() == (
                f"La sincronización está en pausa {end}. Los pedidos esperan en la cola hasta "
                "entonces."
            )
            order = store.call(lambda: store.add_order())
            # the wall clock passes the end (a PC that slept counts too): it resumes alone
            engine.wall_clock = lambda: time.time() + 1801
            await until(lambda: not engine.paused, what="resumed by itself")
            await until(lambda: tray.pause_action.text() == "&Pausar", what="tray: Pausar")
            await until(lambda: w.pause_action.iconText() == "Pausar", what="toolbar: Pausar")
            app.window.sync_action.trigger()
            await until(lambda: erp_has(erp, order["number"]), what="the order that waited")
            engine.wall_clock = time.time
            # from the toolbar: the pause button's menu → "Por 1 hora"
            button = w.findChild(QToolBar, "mainToolbar").widgetForAction(w.pause_action)
            assert isinstance(button, QToolButton) and button.menu() is w.pause_menu
            action_named(w.pause_menu, "Por 1 hora").trigger()
            assert engine.paused and engine.paused_until >= time.time() + 3500
            end = until_text(engine.paused_until)
            await until(
                lambda: w.pause_action.text() == f"&Reanudar (en pausa {end})",
                what=lambda: w.pause_action.text(),
            )
            action_named(w.pause_menu, "Hasta que la reanude").trigger()
            w.pause_action.trigger()
            await until(lambda: not engine.paused, what="resumed by hand")
            # by keyboard: Alt+Down on the focused button opens the menu, Enter chooses (the
            # key from a timer, as from the event loop: the menu runs a loop of its own)
            w.show_and_raise()
            button.setFocus(Qt.FocusReason.TabFocusReason)
            QTimer.singleShot(
                0, lambda: QTest.keyClick(button, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
            )
            await until(w.pause_menu.isVisible, what="the menu open by keyboard")
            QTest.keyClick(w.pause_menu, Qt.Key.Key_Down)
            await until(lambda: w.pause_menu.activeAction() is not None, what="a choice")
            chosen = w.pause_menu.activeAction().text().replace("&", "")
            QTest.keyClick(w.pause_menu, Qt.Key.Key_Return)
            await until(lambda: engine.paused, what="paused by keyboard")
            assert not w.pause_menu.isVisible()
            assert chosen == "Por 30 minutos" and engine.paused_until > time.time() + 1700
            # "Hasta que la reanude": no end
            action_named(w.pause_menu, "Hasta que la reanude").trigger()
            assert engine.paused and engine.paused_until is None
            await until(lambda: w.pause_action.text() == "&Reanudar", what="no end shown")
            w.pause_action.trigger()
            await until(lambda: not engine.paused, what="resumed by hand")
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_pause_and_mute_ends_read_as_local_times():
    set_language("es_AR")
    now = datetime(2026, 11, 30, 23, 10)  # a Monday
    assert (
        until_text((now + timedelta(minutes=30)).timestamp(), now.timestamp()) == "hasta las 23:40"
    )
    assert (
        until_text((now + timedelta(hours=1)).timestamp(), now.timestamp())
        == "hasta mañana a las 00:10"
    )
    later = datetime(2026, 12, 2, 8, 0)
    assert until_text(later.timestamp(), now.timestamp()) == "hasta el mié 02/12 a las 08:00"
    assert day_label(now) == "lun 30/11"


# -- e: quiet hours ---------------------------------------------------------------------------
def test_quiet_hours_cross_midnight():
    def at(hhmm: str) -> datetime:
        h, m = hhmm.split(":")
        return datetime(2026, 11, 30, int(h), int(m))

    for inside in ("21:00", "23:59", "00:00", "07:59"):
        assert in_quiet_hours(at(inside), "21:00", "08:00"), inside
    for outside in ("08:00", "12:00", "20:59"):
        assert not in_quiet_hours(at(outside), "21:00", "08:00"), outside
    assert in_quiet_hours(at("13:30"), "13:00", "14:00")
    assert not in_quiet_hours(at("14:00"), "13:00", "14:00")
    assert not in_quiet_hours(at("13:30"), "", "")


def quiet_window(inside: bool) -> tuple[str, str]:
    """Quiet hours around now that cross midnight (from an hour ago to two hours ago, the
    next day: 23 hours), or the hour that is not them."""
    now = datetime.now()
    a = (now - timedelta(hours=1)).strftime("%H:%M")
    b = (now - timedelta(hours=2)).strftime("%H:%M")
    return (a, b) if inside else (b, a)


def test_quiet_hours_from_settings_hold_notifications_back(qtbot, qloop, ui_profile, sims):
    from ui.settings import SettingsDialog

    _erp, store = sims
    paths, secrets = ui_profile

    async def set_quiet(app: Any, window: tuple[str, str] | None) -> None:
        app.open_settings(app.controller.engine.config)
        [dialog] = [d for d in app.dialogs if isinstance(d, SettingsDialog) and d.isVisible()]
        dialog.quiet_on.setChecked(window is not None)
        if window is not None:
            dialog.quiet_from.setTime(QTime.fromString(window[0], "HH:mm"))
            dialog.quiet_to.setTime(QTime.fromString(window[1], "HH:mm"))
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
        assert not dialog.problem.isVisible(), dialog.problem.text()
        want = window or ("", "")
        await until(
            lambda: (
                (
                    app.controller.engine.config.ui.quiet_from,
                    app.controller.engine.config.ui.quiet_to,
                )
                == want
            ),
            what="quiet hours applied",
        )

    async def body():
        app, task = await start_app(paths, secrets, mute_after_start_s=0, language="es_AR")
        said: list[tuple[str, str]] = []
        app.controller.notify.connect(lambda t, m: said.append((t, m)))
        errors = app.window.errors
        try:
            window = quiet_window(inside=True)
            start, end = window
            assert start > end or datetime.now().hour in (1, 2)  # it crosses midnight
            await set_quiet(app, window)
            assert load_config(paths.config_file).ui.quiet_from == start
            bad_order(store, 1)
            app.window.sync_action.trigger()
            await until(lambda: len(errors.errors) == 1, what="first error")
            await app.controller.refresh()
            assert said == []  # inside the quiet hours
            await set_quiet(app, quiet_window(inside=False))
            bad_order(store, 2)
            app.window.sync_action.trigger()
            await until(lambda: len(said) == 1, what="a notification outside quiet hours")
            assert "CUIT" in said[0][1]
        finally:
            await stop_app(app, task)

    run(qloop, body())


# -- f: "Silenciar" for a chosen time ---------------------------------------------------------
def test_mute_for_a_chosen_time_is_shown_in_the_tray_and_undone(qtbot, qloop, ui_profile, sims):
    _erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(
            paths, secrets, use_tray=True, mute_after_start_s=0, language="es_AR"
        )
        said: list[tuple[str, str]] = []
        app.controller.notify.connect(lambda t, m: said.append((t, m)))
        tray, errors = app.tray, app.window.errors
        try:
            assert tray.mute_action.isVisible() and not tray.snooze_action.isVisible()
            assert tray.mute_action.text() == "&Silenciar notificaciones"
            before = time.time()
            action_named(tray.mute_menu, "Por 2 horas").trigger()
            assert before + 7200 <= app.controller.snoozed_until <= time.time() + 7200
            end = until_text(app.controller.snoozed_until)
            assert tray.snooze_action.isVisible() and not tray.mute_action.isVisible()
            assert tray.snooze_action.text() == (f"Notificaciones silenciadas {end} — Rea&ctivar")
            bad_order(store, 1)
            app.window.sync_action.trigger()
            await until(lambda: len(errors.errors) == 1, what="first error")
            await app.controller.refresh()
            assert said == []  # muted
            # undone from the tray
            tray.snooze_action.trigger()
            assert not app.controller.muted()
            assert tray.mute_action.isVisible() and not tray.snooze_action.isVisible()
            bad_order(store, 2)
            app.window.sync_action.trigger()
            await until(lambda: len(said) == 1, what="a notification once unmuted")
            # a mute that runs out: the tray stops saying it by itself
            app.controller.mute_until(time.time() + 0.3)
            assert tray.snooze_action.isVisible()
            await asyncio.sleep(0.4)
            await app.controller.refresh()
            assert not tray.snooze_action.isVisible() and tray.mute_action.isVisible()
        finally:
            await stop_app(app, task)

    run(qloop, body())


# -- g: the keyboard ---
CONTROLS = (QAbstractButton, QLineEdit, QAbstractItemView, QComboBox, QAbstractSpinBox)


def tab_walk(start: QWidget, limit: int = 80) -> list[QWidget]:
    """The widgets Tab goes through, from `start` until it comes back round."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    reached: list[QWidget] = []
    for _ in range(limit):
        focused = QApplication.focusWidget()
        assert focused is not None
        if focused in reached:
            break
        reached.append(focused)
        QTest.keyClick(focused, Qt.Key.Key_Tab)
    return reached


def describe(widgets: list[QWidget]) -> list[str]:
    return [f"{type(x).__name__}:{x.objectName()}" for x in widgets]


# -- g: the keyboard, tested -------------------------------------------------------------------
def test_keyboard_tab_reaches_every_toolbar_command_ctrl_f_and_f5(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        w = app.window
        try:
            w.show_and_raise()
            await until(lambda: QApplication.activeWindow() is w, what="the window active")
            bar = w.findChild(QToolBar, "mainToolbar")
            buttons = [bar.widgetForAction(a) for a in bar.actions() if a.isVisible() and a.text()]
            assert len(buttons) >= 5
            tabbar = w.tabs.findChild(QTabBar)
            # Tab, from the first button, goes through every toolbar button and the tabs
            reached = tab_walk(buttons[0])
            for b in [*buttons, tabbar]:
                assert b in reached, (b, describe(reached))
            # and on every tab, Tab reaches each of its controls (no table keeps it); an
            # error selected, so that its buttons are there
            # and rows in every table (a table keeps Tab only when it has cells to go to)
            bad = bad_order(store, 1)
            w.sync_action.trigger()
            await until(lambda: len(w.errors.errors) == 1, what="an error")
            w.errors.select_row(0)
            w.search.search_for(bad["number"])
            w.products.refreshRequested.emit()
            tables = [
                w.search.findChild(QAbstractItemView, "searchOrders"),
                w.products.table,
                w.log.table,
                w.errors.table,
            ]
            await until(
                lambda: all(t.model().rowCount() for t in tables),
                what=lambda: [t.model().rowCount() for t in tables],
            )
            for index in range(w.tabs.count()):
                w.tabs.setCurrentIndex(index)
                page = w.tabs.currentWidget()
                controls = [
                    c
                    for c in page.findChildren(QWidget)
                    if c.isVisible()
                    and c.isEnabled()
                    and isinstance(c, CONTROLS)
                    and c.focusPolicy() != Qt.FocusPolicy.NoFocus
                ]
                walk = tab_walk(tabbar)
                missed = [c for c in controls if c not in walk]
                assert missed == [], (w.tabs.tabText(index), describe(missed))
                # and it goes on round to the toolbar: nothing keeps Tab to itself
                assert buttons[0] in walk, (w.tabs.tabText(index), describe(walk))
            # each toolbar command has its own Alt+letter, in Spanish too
            keys = [QKeySequence.mnemonic(a.text()).toString() for a in bar.actions() if a.text()]
            assert all(keys) and len(set(keys)) == len(keys), keys
            assert w.sync_action.text() == "&Sincronizar ahora"
            # Ctrl+F: the log's search, ready to type
            w.tabs.setCurrentIndex(w.TAB_OVERVIEW)
            QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
            assert w.tabs.currentIndex() == w.TAB_LOG
            assert QApplication.focusWidget() is w.log.search
            # F5: sync now (the next scheduled run is an hour away)
            order = store.call(lambda: store.add_order())
            QTest.keyClick(w, Qt.Key.Key_F5)
            await until(lambda: erp_has(erp, order["number"]), what="F5 synced")
            # Alt+P: pause (its mnemonic)
            QTest.keyClick(w, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
            await until(lambda: app.controller.engine.paused, what="Alt+P paused")
        finally:
            await stop_app(app, task)

    run(qloop, body())


# -- h: History -------------------------------------------------------------------------------
def test_history_charts_orders_errors_and_stock_updates_per_day(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        w = app.window
        try:
            for _ in range(3):
                store.call(lambda: store.add_order())
            bad_order(store, 1)
            w.sync_action.trigger()
            await until(lambda: len(w.errors.errors) == 1, what="one error")
            engine = app.controller.engine
            await until(lambda: not any(engine.running.values()), what="runs done")
            skus = list(erp.catalog.skus())[:4]
            erp.call(lambda: [erp.catalog.set_stock(s, 321) for s in skus])
            await engine.sync_now("catalog")
            w.show_tab(w.TAB_HISTORY)
            orders, stock = w.history.orders_chart, w.history.stock_chart

            def last(chart: Any, k: int) -> int:
                return chart.series[k][2][-1] if chart.series else -1

            await until(
                lambda: last(orders, 0) == 3 and last(stock, 0) >= 4,
                what=lambda: f"today's bars, saw {orders.series} {stock.series}",
            )
            # one bar per day, the last one today's, labelled as the merchant reads days
            assert orders.labels[-1] == day_label(datetime.now())
            assert orders.labels[0] == day_label(datetime.now() - timedelta(days=13))
            assert len(orders.labels) == 14 == len(stock.labels)
            # the legend names each series (two series: a legend is drawn)
            assert [name for name, _c, _v in orders.series] == [
                "Pedidos enviados al ERP",
                "Errores",
            ]
            assert [name for name, _c, _v in stock.series] == ["Productos actualizados"]
            assert all(len(v) == 14 for _n, _c, v in [*orders.series, *stock.series])
            assert last(orders, 1) == 1
            # a scale of whole numbers from 0, covering the highest bar, in a few steps
            for chart in (orders, stock):
                ticks = chart.ticks()
                peak = max(v for _n, _c, values in chart.series for v in values)
                assert ticks[0] == 0 and ticks[-1] >= peak and 2 <= len(ticks) <= 6, ticks
                assert all(isinstance(t, int) for t in ticks)
                assert not chart.grab().isNull()  # it paints
                # every day label drawn whole, inside the chart (today's at the right edge)
                widest = max(chart.fontMetrics().horizontalAdvance(x) for x in chart.labels)
                drawn = [(r.left(), r.right()) for r in chart.label_rects]
                assert drawn, "no day label drawn"
                assert all(a >= 0 and b <= chart.width() for a, b in drawn), drawn
                assert all(b - a >= widest for a, b in drawn), (drawn, widest)
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_chart_scale_is_whole_numbers_in_round_steps():
    from ui.history_view import BarChart

    chart = BarChart()
    for peak, want in (
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (23, [0, 5, 10, 15, 20, 25]),
        (130, [0, 50, 100, 150]),
    ):
        chart.set_values(["lun 30/11"], [("x", "#000", [peak])])
        assert chart.ticks() == want, peak
