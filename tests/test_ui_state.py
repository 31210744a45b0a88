"""Issue #14, points 1-3 in the tray app's real widgets (offscreen, the simulators over
loopback): safe actions, one state that tells the truth, one root cause said once."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QDialogButtonBox

from bridge.config import load_config
from bridge.secrets import SecretStore
from tests import test_ui
from tests.conftest import STORE_TOKEN
from tests.test_ui import erp_has, run, start_app, stop_app, until
from ui.i18n import set_language

# test_ui's fixtures: the qasync loop and a profile on the simulators
qloop = test_ui.qloop
ui_profile = test_ui.ui_profile


def test_lost_tokens_say_why_and_saving_them_starts_syncing(qtbot, qloop, ui_profile, sims):
    erp, store = sims
    paths, _secrets = ui_profile
    secrets = SecretStore(use_keyring=False)  # the keyring lost both tokens

    async def body():
        app, task = await start_app(paths, secrets, use_tray=True, language="es_AR")
        try:
            w, tray = app.window, app.tray
            await until(lambda: w.overview.title.text() == "Requiere atención", what="attention")
            assert "falta un token" in w.overview.hint.text()
            assert "Iniciando" not in w.statusBar().currentMessage()
            assert tray.state == "attention"  # red, never the green check
            assert "falta un token" in tray.icon.toolTip()
            first = tray.menu.actions()[0]
            # a line to read, in bold and never greyed out; a click shows what to fix
            assert first is tray.status_action and first.isEnabled() and first.font().bold()
            assert "falta un token" in first.text()
            first.trigger()
            await until(
                lambda: w.isVisible() and w.tabs.currentIndex() == w.TAB_ERRORS,
                what=lambda: f"the window visible {w.isVisible()}, tab {w.tabs.currentIndex()}",
            )
            # the merchant enters the tokens again in Settings: syncing starts
            secrets.set_session("store.token", STORE_TOKEN)
            secrets.set_session("erp.token", erp.token)
            await app.settings_saved(load_config(paths.config_file), False)
            assert app.controller.engine.started
            order = store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(lambda: erp_has(erp, order["number"]), what="order in the ERP")
            await until(
                lambda: w.overview.title.text() == "Todo al día",
                what=lambda: w.overview.title.text(),
            )
            assert tray.state == "idle"
        finally:
            await stop_app(app, task)
            set_language("en")

    run(qloop, body())


def test_discard_needs_a_reason_can_be_undone_and_retry_keeps_the_selection(
    qtbot, qloop, ui_profile, sims
):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        try:
            w = app.window
            errors = w.errors
            # busy for its first send and for the retry below (5 tries each)
            erp.faults.script("POST", "operacionecommerce", *[409] * 10)
            bad = [
                store.call(
                    lambda t=t: store.add_order(buyer__tax_id=t, buyer__tax_condition="monotributo")
                )
                for t in ("20-1", "20-2")
            ]
            busy = store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(lambda: len(errors.errors) == 3, what="three errors")
            # the overview says it once: the cause (how many to fix, where), not twice
            await until(lambda: "to fix" in w.overview.hint.text(), what=w.overview.hint.text)
            hint = w.overview.hint.text()
            assert hint.count("Errors tab") == 1, hint
            w.show_tab(w.TAB_ERRORS)
            # retry the busy one: it is selected again when it comes back (same order), not
            # whatever row took its place
            row = next(i for i, e in enumerate(errors.errors) if e.number == busy["number"])
            errors.select_row(row)
            before = errors.selected().id
            errors.retry_btn.click()
            # (its error after the retry is a new row: the old one was closed by the retry)
            await until(
                lambda: (
                    all(e.id != before for e in errors.errors)
                    and errors.selected() is not None
                    and errors.selected().number == busy["number"]
                ),
                what=lambda: (before, [(e.id, e.number) for e in errors.errors], errors.selected()),
            )
            # discard one bad order: no reason, no discard
            row = next(i for i, e in enumerate(errors.errors) if e.number == bad[0]["number"])
            errors.select_row(row)
            target = errors.selected()
            errors.discard_btn.click()
            dialog = errors._dialog
            ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
            assert not ok.isEnabled()
            dialog.setTextValue("   ")
            assert not ok.isEnabled()
            dialog.setTextValue("cliente duplicado")
            assert ok.isEnabled()
            engine = app.controller.engine
            before = engine.state.outbox.get(bad[0]["id"])
            dialog.accept()
            await until(lambda: all(e.id != target.id for e in errors.errors), what="discarded")
            assert errors.undo_bar.isVisible()
            assert engine.state.outbox.get(bad[0]["id"]).state.value == "discarded"
            # undo: the order and its error are back as they were (one row, the same id)
            errors.undo_btn.click()
            await until(lambda: any(e.id == target.id for e in errors.errors), what="undone")
            assert engine.state.outbox.get(bad[0]["id"]) == before
            assert sum(e.number == bad[0]["number"] for e in errors.errors) == 1
            assert not errors.undo_bar.isVisible()
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_quit_asks_when_orders_are_pending_and_one_cause_is_said_once(
    qtbot, qloop, ui_profile, sims
):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, use_tray=True)
        messages: list[tuple[str, str]] = []
        app.controller.notify.connect(lambda t, m: messages.append((t, m)))
        app.controller.mute_after_start_s = 0
        tray = app.tray
        try:
            erp.expire_token()
            for _ in range(3):
                store.call(lambda: store.add_order())
            tray.sync_action.trigger()
            await until(lambda: tray.state == "attention", what=lambda: tray.state)
            # the cause is said in the tooltip and as the menu's first line
            assert "rejects the token" in tray.icon.toolTip()
            assert "rejects the token" in tray.status_action.text()
            await until(lambda: len(messages) == 1, what="one notification")
            # one row for the cause in the error list, however many orders wait on it
            errors = app.window.errors
            await until(lambda: len(errors.errors) >= 1, what="errors listed")
            causes = {e.cause for e in errors.errors}
            assert causes == {"erp:auth"} and len(errors.rows) == 1
            # (how many orders met the rejection before the run stopped depends on the
            # concurrency: one or all three)
            # (the row counts the orders: the side's own row, when there is one, is not one)
            n = sum(1 for e in errors.errors if e.subject.order_id is not None)
            text = errors.table.item(0, 0).text()
            if n > 1:
                assert text.startswith("Dragonfish (ZooLogic) rejects the token"), text
                assert f"{n} orders waiting" in text, text
            # a second run meets the same cause: nothing new is said
            await app.controller.engine.sync_now("orders")
            await app.controller.refresh()
            await asyncio.sleep(0.2)
            assert len(messages) == 1, messages
            status = app.controller.status
            assert status is not None
            waiting = status.orders.pending + status.orders.counts["failed"]
            assert waiting == 3
            tray.quit_action.trigger()
            box = next(d for d in app.dialogs if d.objectName() == "quitDialog")
            assert box.isVisible()
            assert "3 orders are still on their way" in box.text()
            # keep running: the app goes on
            box.reject()
            await asyncio.sleep(0.2)
            assert not task.done()
            tray.quit_action.trigger()
            box = [d for d in app.dialogs if d.objectName() == "quitDialog"][-1]
            next(b for b in box.buttons() if b.objectName() == "quitConfirm").click()
            assert await asyncio.wait_for(task, 30) == 0
        except BaseException:
            await stop_app(app, task)
            raise

    run(qloop, body())


def test_a_stopped_controller_asks_for_nothing_more(qtbot, qloop, ui_profile, sims):
    """Once Bridge stopped, a last status change of the engine or a tick of the clock's
    timer schedules no refresh: its loop is gone (under Wine a later test met the task a
    stopped controller made, on a loop that no longer ran)."""
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        await stop_app(app, task)
        return app.controller

    controller = run(qloop, body())
    assert controller._schedule_refresh not in controller.engine.status_listeners
    controller._timer.timeout.emit()  # a tick that was already queued
    controller.engine._status_changed()
    assert not controller._tasks and not controller._refresh_pending
