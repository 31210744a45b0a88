"""Spanish all the way: the UI, run in es-AR through its screens and faults, shows no English.

The test walks the real app against the simulators (main window and its tabs, the error list
with injected faults, the settings dialog with a connection test that fails and one that
succeeds, the about box, the first-run dialog, the preview), collects the visible text of
every visible widget (labels, buttons, tabs, table cells, tooltips, group titles, window
titles, message boxes, menus) and flags any text that looks English.

"Looks English": a word from a list of common English words that are not Spanish words too,
or a technical token (a Python exception name, "Errno", a command line). Proper names
(Dragonfish, VentasxMayor, SKU, CUIT...) are not words of either language and pass. What
a server or the engine said verbatim is shown only after the labels that say so (the
server's message, the technical detail for support); the detector skips what follows them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGroupBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QTabWidget,
    QTextEdit,
    QToolBar,
    QWidget,
)

from tests.test_ui import qloop, run, start_app, stop_app, ui_profile, until  # noqa: F401
from ui.history_view import BarChart
from ui.i18n import _, set_language

# Common English words that are not Spanish words (nor part of a proper name the UI shows).
ENGLISH_WORDS = """
    the and or of to with from for by at on off into onto this that these those it its
    is are was were be been being has have had do does did will would could should can
    cannot can't won't isn't doesn't don't must may might shall not no yes
    you your we our they their he she his her them there here what which who when where why how
    failed fail errors failure refused rejected invalid missing required unknown found
    expires expired expire days day hours hour minutes minute seconds second ago never
    connect connected connection disconnected timeout timed out reset accepted
    sent send received receive order orders product products price prices update
    updated sync syncing synced paused pause resume running waiting started stopped
    settings setting test testing retry discard approve push pushed held hold anyway
    open close save cancel quit about help details detail message server store
    least character characters string field value valid url starting ending end
    please check checked none empty new old all some any many much more less
    name names file files folder folders path browse choose select
    network certificate fingerprint private public self signed
    enter entered type typed set get got keep kept okay warning debug
    while until after before since then than also only just even still yet again
    log logs overview history view show hide mute unmute notification notifications
    today tomorrow morning week month quiet muted back start first example examples
    buyer units search results result undo undone discarded reason chart legend
"""
# Words of both languages, or names: never flagged.
ALLOWED_WORDS = """
    a no son se la el en de un una es con por para del al lo le les mi tu su
    sku skus cuit cuil dni erp url api pem sha smtp starttls ssl tls jwt csv iva afip
    dragonfish ventasxmayor zoologic acqua nonsistemas salesforce virtual seller bridge
    english token tokens ok
"""
# Names of several words that the vendors' own screens use (Salesforce's), and literals
NAMES = (
    "Connected App",
    "External Client App",
    "Consumer Key",
    "Consumer Secret",
    "BEGIN CERTIFICATE",
)
ENGLISH = frozenset(ENGLISH_WORDS.split()) - frozenset(ALLOWED_WORDS.split())
TECHNICAL = re.compile(
    r"\b[A-Z][a-zA-Z]+(Error|Exception)\b|\bErrno\b|Traceback|`[^`]+`|\bbridge (secrets|doctor)\b"
)
# what the UI quotes verbatim, after the label that says so (up to the end of the line)
VERBATIM_LABELS = ("Mensaje del servidor:", "Detalle técnico (para soporte):")
URLISH = re.compile(r"\S*[/\\:@]\S*|\S+\.\S+")
WORD = re.compile(r"[A-Za-zÁÉÍÓÚÜÑáéíóúüñ']+")


def english_in(text: str) -> list[str]:
    """The English a text shows (empty for Spanish)."""
    found = []
    for line in text.removeprefix(TIP).splitlines():
        for label in VERBATIM_LABELS:
            if label in line:
                line = line.split(label, 1)[0]
        found += [m.group(0) for m in TECHNICAL.finditer(line)]
        for name in NAMES:
            line = line.replace(name, " ")
        line = URLISH.sub(" ", line)
        for word in WORD.findall(line):
            w = word.lower().strip("'")
            if w in ENGLISH:
                found.append(word)
    return found


def test_times_and_counts_read_as_people_say_them() -> None:
    from ui.i18n import plural
    from ui.texts import ago, due_in

    set_language("es_AR")
    try:
        now = 1_000_000.0
        assert ago(now, now) == "recién"
        assert ago(now - 30, now) == "hace 30 s"
        assert ago(now - 289, now) == "hace 5 min"
        assert due_in(now + 289, now) == "en 5 min"
        assert due_in(now + 30, now) == "en 30 s"
        assert due_in(now - 3, now) == "ahora"
        assert plural(1, _("Bridge: {n} new problem"), _("Bridge: {n} new problems")) == (
            "Bridge: 1 problema nuevo"
        )
        assert plural(3, _("Bridge: {n} new problem"), _("Bridge: {n} new problems")) == (
            "Bridge: 3 problemas nuevos"
        )
    finally:
        set_language("en")


def test_the_detector_flags_english_and_passes_spanish() -> None:
    english = (
        "valid, expires in 730 days",
        "ConnectError: [Errno -2] Name or service not known",
        "Value error, must end with '/'",
        "Field required",
        "…update it with `bridge secrets set`",
        "Stock and price sync held",
        "Order 1001 could not be sent",
    )
    for text in english:
        assert english_in(text), text
    spanish = (
        "Pedido 1001 registrado en el ERP como OP-55",
        "La tienda no respondió; Bridge sigue intentando.",
        "Token válido, vence en 730 días",
        "No se pudo conectar con http://127.0.0.1:9/api/ (el servidor no está encendido?)",
        "Dragonfish rechaza el token — 17 pedidos esperando",
        "El SKU A!B!C no existe en VentasxMayor; el CUIT 20-12345678-6 no es válido",
        "Mensaje del servidor: Injected error 500",
        "Español (Argentina) · English",
        "hace un momento · en 5 min · recién",
    )
    for text in spanish:
        assert english_in(text) == [], (text, english_in(text))


# -- collecting what is shown -----------------------------------------------------------------
def _model_texts(model: QAbstractItemModel) -> Iterable[str]:
    for col in range(model.columnCount()):
        header = model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        if header:
            yield str(header)
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            index = model.index(row, col, QModelIndex())
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = model.data(index, role)
                if isinstance(value, str) and value:
                    yield f"{TIP}{value}" if role == Qt.ItemDataRole.ToolTipRole else value


TIP = "(tooltip) "  # marks a tooltip among the texts collected


def widget_texts(w: QWidget) -> Iterable[str]:
    if w.toolTip():
        yield TIP + w.toolTip()
    if w.isWindow() and w.windowTitle():
        yield w.windowTitle()
    if isinstance(w, QMessageBox):
        yield from (w.text(), w.informativeText())
    if isinstance(w, QLabel):
        label = QLabel()  # the label's text as shown (rich text rendered to plain)
        doc_text = w.text()
        if w.textFormat() != Qt.TextFormat.PlainText and "<" in doc_text:
            from PySide6.QtGui import QTextDocument

            doc = QTextDocument()
            doc.setHtml(doc_text)
            doc_text = doc.toPlainText()
        label.deleteLater()
        yield doc_text
    elif isinstance(w, QAbstractButton):
        yield w.text()
    elif isinstance(w, QGroupBox):
        yield w.title()
    elif isinstance(w, QLineEdit):
        yield w.placeholderText()
    elif isinstance(w, QComboBox):
        yield from (w.itemText(i) for i in range(w.count()))
    elif isinstance(w, QTextEdit | QPlainTextEdit):
        yield w.toPlainText()
    elif isinstance(w, QTabWidget):
        for i in range(w.count()):
            yield w.tabText(i)
            yield TIP + w.tabToolTip(i)
    elif isinstance(w, QAbstractItemView) and w.model() is not None:
        yield from _model_texts(w.model())
    elif isinstance(w, BarChart):  # painted: its day labels and its legend
        yield from w.labels
        yield from (name for name, _colour, _values in w.series)
    if isinstance(w, QToolBar | QMenu):
        for action in w.actions():
            yield from (action.text().replace("&", ""), TIP + action.toolTip())


def shown_texts(top: QWidget) -> dict[str, str]:
    """Every visible text of a window and its visible widgets: text -> where it is."""
    out: dict[str, str] = {}
    for w in [top, *top.findChildren(QWidget)]:
        if not w.isVisibleTo(top) and w is not top:
            continue
        for text in widget_texts(w):
            if text and text.removeprefix(TIP).strip():
                out.setdefault(text, f"{type(w).__name__}#{w.objectName()}")
    return out


def english_shown(texts: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    return [(where, text, words) for text, where in texts.items() if (words := english_in(text))]


class Walk:
    """What the walk saw, screen by screen."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}

    def look(self, screen: str, top: QWidget) -> None:
        self.seen.setdefault(screen, {}).update(shown_texts(top))

    def note(self, screen: str, where: str, text: str) -> None:
        """A text shown outside a widget (the tray icon's tooltip)."""
        self.seen.setdefault(screen, {})[text] = where

    def english(self) -> list[str]:
        return [
            f"{screen}: {where}: {text!r} ({', '.join(words)})"
            for screen, texts in self.seen.items()
            for where, text, words in english_shown(texts)
        ]


def _dialogs(kind: type[QWidget], name: str) -> list[QWidget]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, kind) and w.objectName() == name and w.isVisible()
    ]


# the walk's own limit (run(..., timeout=180)), not pytest's 120 s: under Wine a
# test that pytest-timeout ends takes the whole run with it
@pytest.mark.timeout(300)
def test_es_ar_shows_no_english(qtbot, qloop, ui_profile, sims):  # noqa: F811
    """The walk: every screen, with faults, in es-AR."""
    erp, store = sims
    paths, secrets = ui_profile
    walk = Walk()

    async def body():
        from ui.settings import SettingsDialog
        from ui.wizard import FirstRunDialog, PreviewDialog

        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            await until(lambda: w.log.model.rowCount() > 0, what="log lines")
            # faults: an HTML error page for a while, a wrong CUIT, the ERP refusing a write
            store.call(lambda: store.add_order())
            store.call(
                lambda: store.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
            )
            erp.faults.script("POST", "operacionecommerce", 409, 409, 409, 409, 409)
            store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(lambda: len(w.errors.errors) >= 2, what="errors")
            erp.faults.script("*", "*", *(["html"] * 40))
            w.catalog_sync_action.trigger() if hasattr(w, "catalog_sync_action") else None
            w.sync_action.trigger()
            await until(
                lambda: (
                    any(e.code == "html_response" for e in w.errors.errors)
                    or not erp.faults.pending()
                ),
                what="HTML fault",
            )
            await asyncio.sleep(0.5)
            erp.faults.clear()
            await until(lambda: not any(app.controller.engine.running.values()), what="runs")
            await app.controller.refresh()  # the overview shows the end of those runs
            # the ERP down: every connection to it cut
            erp_line = w.overview.erp_conn.text()
            erp.faults.script("*", "*", *(["reset"] * 60))
            w.sync_action.trigger()
            await until(
                lambda: w.overview.erp_conn.text() != erp_line or not erp.faults.pending(),
                what="the ERP down",
            )
            print("ERP down, the overview says:", w.overview.erp_conn.text())
            walk.look("ERP down", w)
            erp.faults.clear()
            # a sync held by the guard: a quarter of the prices multiplied by 100
            catalog = erp.catalog

            def cents() -> None:
                priced = [s for s in catalog.skus() if catalog.price(s, "LISTA1") > 0]
                for sku in priced[: len(priced) // 4]:
                    catalog.set_price(sku, "LISTA1", catalog.price(sku, "LISTA1") * 100)

            erp.call(cents)
            w.sync_action.trigger()
            await until(lambda: any(e.held for e in w.errors.errors), what="held")
            await until(lambda: not any(app.controller.engine.running.values()), what="runs")
            for tab in range(w.tabs.count()):
                w.show_tab(tab)
                await asyncio.sleep(0.05)
                walk.look(f"tab {tab}", w)
            w.show_tab(w.TAB_ERRORS)
            # the table's rows (errors of one cause share one): `errors.rows`, not the list
            for row, group in enumerate(list(w.errors.rows)):
                w.errors.select_row(row)
                walk.look(f"error {row}", w)
                if group[0].held:
                    w.errors.approve_btn.click()
                    approve = w.errors._dialog
                    assert approve is not None and approve.isVisible()
                    walk.look("approve a held sync", approve)
                    approve.reject()

            # the about box
            app.show_about()
            [about] = _dialogs(QMessageBox, "aboutBox")
            walk.look("about", about)
            about.close()

            # settings: a connection test that fails, then ones that succeed
            settings = app.open_settings(app.controller.engine.config)
            assert isinstance(settings, SettingsDialog)
            walk.look("settings", settings)
            url = settings.erp_page().widgets["endpoint"]
            good = url.text()
            url.setText("http://127.0.0.1:9/api/")
            failed = await settings.test_erp()
            assert failed and failed[0].ok is False, failed
            walk.look("settings: ERP test failed", settings)
            url.setText("not a url")
            await settings.test_erp()
            walk.look("settings: ERP URL invalid", settings)
            settings.store_url.setText("http://127.0.0.1:9/")
            await settings.test_store()
            walk.look("settings: store test failed", settings)
            # every field's problem, and what the engine says when a token is lost
            cliente = settings.erp_page().widgets["cliente"]
            cliente.setText("")
            settings.store_url.setText("tienda")
            settings.save()
            walk.look("settings: field problems", settings)
            settings.show_problem("erp.token: not set; run `bridge secrets set erp.token`")
            walk.look("settings: token lost", settings)
            # both sides' settings wrong at once: each problem on its own line
            await settings.test_erp()
            walk.look("settings: ERP and store settings wrong", settings)
            # a token that is not Dragonfish's
            cliente.setText(app.controller.engine.config.erp.cliente)
            url.setText(good)
            token = settings.erp_page().widgets["erp.token"]
            token.setText("not-a-jwt")
            checks = await settings.test_erp()
            assert any(c.ok is False for c in checks), checks
            walk.look("settings: wrong token", settings)
            token.setText("")
            assert all(c.ok is not False for c in await settings.test_erp())
            walk.look("settings: ERP test passed", settings)
            settings.store_url.setText(app.controller.engine.config.store.url)
            assert all(c.ok for c in await settings.test_store())
            walk.look("settings: store test passed", settings)
            # another ERP: its own fields; Cancel with a typed token asks
            settings.kind.setCurrentIndex(settings.kind.findData("folder"))
            walk.look("settings: import folder", settings)
            settings.store_token.setText("un-token-nuevo")
            settings.reject()
            [discard] = _dialogs(QMessageBox, "discardSecretsBox")
            walk.look("settings: discard typed token", discard)
            discard.button(QMessageBox.StandardButton.Discard).click()

            # the first run and the preview
            first = FirstRunDialog()
            first.show()
            walk.look("first run", first)
            first.close()
            preview = PreviewDialog()
            preview.show()
            walk.look("preview: comparing", preview)
            preview.show_preview(await app.controller.engine.preview_first_sync())
            walk.look("preview", preview)
            preview.close()
            # a preview that cannot be made: the ERP does not answer
            from bridge.config import parse_config

            data = app.controller.engine.config.to_toml()
            data["erp"]["endpoint"] = "http://127.0.0.1:9/api/"
            await app.show_preview(parse_config(data))
            [failed] = _dialogs(PreviewDialog, "previewDialog")
            walk.look("preview: the ERP does not answer", failed)
            print("preview that failed:", failed.text.text())
            failed.hide()  # not rejected: that would quit the app, as at a first run

            # the tray's menu
            from ui.tray import Tray

            tray = Tray()
            tray.set_status(app.controller.status) if app.controller.status else None
            walk.look("tray menu", tray.menu)
            walk.note("tray menu", "tray icon tooltip", tray.icon.toolTip())
        finally:
            await stop_app(app, task)
            set_language("en")

    run(qloop, body(), timeout=180)
    # the walk saw the screens and the faults it was meant to see
    everything = "\n".join(t for texts in walk.seen.values() for t in texts)
    for shown in ("Detalle técnico (para soporte)", "no se pudo conectar", "vence en"):
        assert shown in everything, shown
    english = walk.english()
    assert english == [], "English shown in es-AR:\n" + "\n".join(english)


def test_qt_own_dialogs_speak_spanish(qapp) -> None:
    """Qt's standard buttons and file dialog: qtbase_es from PySide6's translations (the
    bundle keeps it: bridge.spec's filter lets qtbase_es.qm through)."""
    from PySide6.QtCore import QCoreApplication

    from ui.app import install_qt_translation

    try:
        assert install_qt_translation(qapp, "es_AR") is not None
        assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancelar"
        assert QCoreApplication.translate("QFileDialog", "Look in:") == "Ver en:"
        # English again: the Spanish translator is removed, not stacked
        assert install_qt_translation(qapp, "en") is None
        assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancel"
    finally:
        install_qt_translation(qapp, "en")
    spec = (Path(__file__).resolve().parent.parent / "bridge.spec").read_text(encoding="utf-8")
    [pattern] = re.findall(r'QT_QM = re\.compile\(r"(.+)"\)', spec)
    shipped = re.compile(pattern)
    assert not shipped.search("PySide6/Qt/translations/qtbase_es.qm")  # kept
    assert shipped.search("PySide6/Qt/translations/qtbase_de.qm")  # dropped


def test_english_chosen_in_settings_takes_effect(qtbot, qloop, ui_profile, qapp):  # noqa: F811
    """Choosing English in Settings: what is shown from then on is English at once (the
    dialogs, Qt's own buttons, the log's new lines), the window's fixed words after Bridge
    is opened again; the demo, whose profile is made anew at each start, remembers it too."""
    from PySide6.QtCore import QCoreApplication

    from ui.app import install_qt_translation, startup_language
    from ui.i18n import language

    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        install_qt_translation(qapp, "es_AR")
        try:
            assert startup_language(paths) == "es_AR"
            settings = app.open_settings(app.controller.engine.config)
            assert settings.language.currentData() == "es_AR"
            settings.language.setCurrentIndex(settings.language.findData("en"))
            settings.save()
            await until(lambda: language() == "en", what="English")
            assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancel"
            app.show_about()
            [about] = _dialogs(QMessageBox, "aboutBox")
            assert about.windowTitle() == "About Bridge"
            about.close()
            again = app.open_settings(app.controller.engine.config)
            assert again.windowTitle() == "Bridge settings"
            assert again.language.currentData() == "en"
            again.reject()
        finally:
            await stop_app(app, task)
            install_qt_translation(qapp, "en")
            set_language("en")

    run(qloop, body())
    # the next start, of this profile and of the demo
    assert startup_language(paths) == "en"
    assert startup_language(paths, demo=True) == "en"


def test_every_spanish_text_of_the_catalog_reads_as_spanish() -> None:
    """The detector on the whole es-AR catalog: no Spanish text is taken for English (no
    false positives), and no entry was left in English."""
    import json

    root = Path(__file__).resolve().parent.parent
    catalog = json.loads((root / "resources/i18n/es_AR.json").read_text(encoding="utf-8"))
    english = {
        spanish: words
        for spanish in catalog.values()
        if (words := english_in(re.sub(r"\{\w+\}", "", spanish)))
    }
    assert english == {}


# the walk's own limit (run(..., timeout=180)), not pytest's 120 s: under Wine a
# test that pytest-timeout ends takes the whole run with it
@pytest.mark.timeout(300)
def test_es_ar_cockpit_shows_no_english(qtbot, qloop, ui_profile, sims, qapp):  # noqa: F811
    """The walk, on the newest screens (issue #14): the overview's state with its cause and
    the "Hoy" block, the errors grouped by cause, the discard's reason and its Undo, the
    search of the whole history and an order's detail, the products view with its filters,
    the history's charts (their day labels and legends), the tray (its state line and
    tooltip, the pause and mute choices, paused and muted), the notifications, the preview
    of the first sync with its examples, and the question before quitting. Qt's own texts
    (the dialogs' standard buttons) in Spanish, as the app installs them."""
    from ui.app import install_qt_translation
    from ui.wizard import PreviewDialog

    erp, store = sims
    paths, secrets = ui_profile
    walk = Walk()

    async def body():
        app, task = await start_app(
            paths, secrets, language="es_AR", use_tray=True, mute_after_start_s=0
        )
        install_qt_translation(qapp, "es_AR")
        try:
            w, tray, controller = app.window, app.tray, app.controller
            assert tray is not None
            w.show()  # opened from the tray
            controller.notify.connect(
                lambda title, text, *_info: (
                    walk.note("notifications", "tray message", title)
                    or walk.note("notifications", "tray message", text)
                )
            )
            # an order with a wrong CUIT, and one that goes through
            bad = store.call(
                lambda: store.add_order(
                    buyer__tax_id="30-71234567-2", buyer__tax_condition="responsable_inscripto"
                )
            )
            store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(lambda: len(w.errors.errors) >= 1, what="the CUIT's error")
            await until(lambda: not any(controller.engine.running.values()), what="runs")
            await app.refresh_history()
            for tab in range(w.tabs.count()):
                w.show_tab(tab)
                await asyncio.sleep(0.05)
                walk.look(f"tab {w.tabs.tabText(tab)}", w)

            # the search of the whole history, and the order's detail
            w.show_tab(w.tabs.indexOf(w.search))
            w.search.search_for(bad["buyer"]["tax_id"].replace("-", ""))
            await until(lambda: w.search.orders.rowCount() > 0, what="search results")
            walk.look("search: found", w)
            w.search.search_for("no-existe-esto")
            await until(lambda: "no-existe-esto" in w.search.summary.text(), what="no results")
            walk.look("search: nothing found", w)
            app.finder.open_order(bad["id"])
            await until(lambda: bool(app.finder.details), what="the order's detail")
            detail = app.finder.details[0]
            walk.look("order detail (failed)", detail)
            detail.reject()

            # the products: every filter, a product updated by hand
            w.show_tab(w.tabs.indexOf(w.products))
            await until(lambda: w.products.model.rowCount() > 0, what="products")
            for i in range(w.products.which.count()):
                w.products.which.setCurrentIndex(i)
                await asyncio.sleep(0.02)
                walk.look(f"products: {w.products.which.itemData(i)}", w)
            w.products.which.setCurrentIndex(0)
            first = w.products.model.products[0].sku
            w.products.select_sku(first)
            w.products.update_btn.click()
            # its answer, not the "Actualizando…" the click shows at once
            await until(
                lambda: w.products.result.text().startswith(f"{first} actualizado"),
                what=lambda: f"the product's result: {w.products.result.text()}",
            )
            walk.look("products: one updated", w)
            # "Update one product…" from the toolbar: its question, and its answer in place
            # (a SKU the ERP lacks is not walked: its reason is the engine's English, see
            # ui/finder.py's _sync_sku)
            w.sku_action.trigger()
            [ask] = _dialogs(QInputDialog, "skuDialog")
            walk.look("update one product: asked", ask)
            second = w.products.model.products[1].sku
            ask.setTextValue(second)
            ask.accept()
            await until(
                lambda: w.products.result.text().startswith(f"{second} actualizado"),
                what=lambda: f"its result: {w.products.result.text()}",
            )
            walk.look("products: one updated from the toolbar", w)

            # quitting with one order not in the ERP yet asks first, in the singular
            app.request_quit()
            [box] = _dialogs(QMessageBox, "quitDialog")
            assert box.text().startswith("Todavía hay 1 pedido en camino al ERP."), box.text()
            walk.look("quit: asked (one order)", box)
            box.reject()

            # a discard: its reason, then the Undo bar
            w.show_tab(w.TAB_ERRORS)
            [row] = [r for r, [e, *_m] in enumerate(w.errors.rows) if e.subject.order_id]
            w.errors.select_row(row)
            w.errors.discard_btn.click()
            [discard] = _dialogs(QInputDialog, "discardDialog")
            walk.look("discard: the reason asked", discard)
            discard.setTextValue("El cliente lo canceló")
            discard.accept()
            await until(lambda: w.errors.undo_bar.isVisible(), what="the Undo bar")
            walk.look("discard: Undo offered", w)

            # the ERP's token expires while orders come in: one cause, one row, one notice
            erp.call(erp.expire_token)
            for _n in range(3):
                store.call(lambda: store.add_order())
            w.sync_action.trigger()
            await until(
                lambda: any(len(members) > 1 for members in w.errors.rows), what="one cause"
            )
            await until(lambda: not any(controller.engine.running.values()), what="runs")
            await controller.refresh()
            for tab in (w.TAB_OVERVIEW, w.TAB_ERRORS, w.TAB_LOG):
                w.show_tab(tab)
                await asyncio.sleep(0.05)
                walk.look(f"token expired: tab {w.tabs.tabText(tab)}", w)
            walk.look("token expired: tray menu", tray.menu)
            walk.note("token expired: tray menu", "tray icon tooltip", tray.icon.toolTip())
            for menu in (tray.pause_menu, tray.mute_menu, w.pause_menu):
                menu.rebuild()
                walk.look(f"menu {menu.objectName()}", menu)
            # paused for an hour and muted: the tray says until when, and how to undo it
            controller.pause_until(time.time() + 3600)
            controller.mute_until(time.time() + 7200)
            await controller.refresh()
            walk.look("paused and muted: tray menu", tray.menu)
            walk.note("paused and muted", "tray icon tooltip", tray.icon.toolTip())
            walk.look("paused and muted: window", w)
            controller.engine.resume()
            controller.unmute()

            # closing the window: Bridge says once that it keeps running in the tray
            told: list[str] = []
            tray.message = lambda title, text, info=False: told.extend((title, text))
            w.close()
            await until(lambda: bool(told), what="the tray's notice")
            for text in told:
                walk.note("closed to the tray", "tray message", text)
            w.show()

            # quitting with orders on their way asks first
            app.request_quit()
            [box] = _dialogs(QMessageBox, "quitDialog")
            walk.look("quit: asked", box)
            box.reject()

            # the preview of a first sync, with its examples and the orders that would go
            erp.call(erp.renew_token)
            store.call(lambda: store.add_order())

            erp.call(lambda: erp.catalog.mutate(0.2, seed=5))  # the ERP moved on
            await app.show_preview(controller.engine.config)
            [preview] = _dialogs(PreviewDialog, "previewDialog")
            await until(lambda: preview.start_btn.isEnabled(), what="the preview")
            walk.look("preview: examples and orders", preview)
            preview.hide()  # not rejected: that would quit the app, as at a first run
        finally:
            await stop_app(app, task)
            install_qt_translation(qapp, "en")
            set_language("en")

    run(qloop, body(), timeout=180)
    print("screens walked:", ", ".join(walk.seen))
    everything = "\n".join(t for texts in walk.seen.values() for t in texts)
    # the walk saw what it was meant to see
    for shown in ("Detalle técnico (para soporte)", "pedidos esperando", "Deshacer", "Hoy"):
        assert shown in everything, shown
    assert "notifications" in walk.seen and "closed to the tray" in walk.seen
    english = walk.english()
    assert english == [], "English shown in es-AR:\n" + "\n".join(english)


def test_counts_in_causes_and_recoveries_agree_in_number() -> None:
    """ "1 pedido esperando", never "1 pedidos"; a side that answers again says so in
    Spanish, with its counts in the right number."""
    from bridge.status import Cause
    from ui.texts import cause_cleared_text, cause_text, event_text

    set_language("es_AR")
    try:
        one = cause_text(Cause("auth_rejected", "erp", 1), "Dragonfish")
        assert one.endswith("— 1 pedido esperando"), one
        assert cause_text(Cause("unreachable", "erp", 3)).endswith("— 3 pedidos esperando")
        assert cause_cleared_text("store", 1, 0) == (
            "La tienda responde de nuevo: se resolvió 1 error que había causado"
        )
        assert event_text("cause_cleared", {"side": "erp", "errors": 3, "orders": 2}, "x") == (
            "El ERP responde de nuevo: se resolvieron 3 errores que había causado; "
            "ahora se envían 2 pedidos"
        )
    finally:
        set_language("en")
