"""The main window: overview, live log, error list and history, with the everyday commands
in its toolbar."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QScrollArea,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bridge.status import SideStatus, Status
from ui.daily import ChoiceMenu, MenuKeys, TodayBox, pause_choices, until_text
from ui.errors_view import ErrorsView
from ui.history_view import HistoryView
from ui.i18n import _
from ui.icons import tray_icon
from ui.log_view import LogView
from ui.products_view import ProductsView
from ui.search_view import SearchView
from ui.texts import ago, cause_text, due_in, explain_code, run_summary, state_name

STATE_HINTS = {
    "retrying": lambda: _(
        "The ERP or the store cannot be reached right now. Orders wait "
        "in the queue and nothing is lost; Bridge keeps trying."
    ),
    "attention": lambda: _("Some items need your attention: see the Errors tab."),
    "stopped": lambda: _("Bridge is not syncing."),
    "paused": lambda: _("Sync is paused. Orders wait in the queue until you resume."),
    "syncing": lambda: _("Syncing now…"),
    "idle": lambda: _("Orders go to the ERP and stock and prices to the store as they change."),
}


class PipelineBox(QGroupBox):
    def __init__(self, title: str) -> None:
        super().__init__(title)
        form = QFormLayout(self)
        self.state = QLabel()
        self.last = QLabel()
        self.last.setWordWrap(True)
        self.next = QLabel()
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        form.addRow(_("State:"), self.state)
        form.addRow(_("Last run:"), self.last)
        form.addRow(_("Next run:"), self.next)
        form.addRow(_("Items:"), self.counts)


class Overview(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.erp_title = ""
        self.icon = QLabel()
        self.icon.setFixedSize(48, 48)
        self.title = QLabel()
        self.title.setObjectName("overviewState")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.icon)
        texts = QVBoxLayout()
        texts.addWidget(self.title)
        texts.addWidget(self.hint)
        head.addLayout(texts, 1)
        self.orders = PipelineBox(_("Orders: store → ERP"))
        self.catalog = PipelineBox(_("Stock and prices: ERP → store"))
        self.connections = QGroupBox(_("Connections"))
        conn = QFormLayout(self.connections)
        self.erp_conn = QLabel()
        self.erp_conn.setObjectName("erpConnection")
        self.erp_conn.setWordWrap(True)
        self.store_conn = QLabel()
        self.store_conn.setWordWrap(True)
        conn.addRow(_("ERP:"), self.erp_conn)
        conn.addRow(_("Store:"), self.store_conn)
        grid = QGridLayout()
        grid.addWidget(self.orders, 0, 0)
        grid.addWidget(self.catalog, 0, 1)
        grid.addWidget(self.connections, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.today = TodayBox()  # what the merchant asks first: how did today go
        layout.insertWidget(1, self.today)

    def set_status(self, s: Status) -> None:
        state = s.state.value
        if state != getattr(self, "_state", None):  # icons only when the state changes
            self._state = state
            self.icon.setPixmap(QPixmap(tray_icon(state).pixmap(48, 48)))
        self.title.setText(state_name(state))
        # the cause first ("Dragonfish rejects the token — 17 orders waiting"), then what
        # the state means
        why = cause_text(s.cause, self.erp_title)
        hint = STATE_HINTS.get(state, lambda: "")()
        code = s.cause.code if s.cause is not None else ""
        if code in ("errors", "stopped"):
            hint = ""  # the cause says it all ("3 items to fix: see the Errors tab")
        elif code == "paused":
            why = ""  # the hint says it, and what happens to the orders meanwhile
            until = s.live.paused_until if s.live is not None else None
            if until:
                hint = _(
                    "Sync is paused {until}. Orders wait in the queue until then.",
                    until=until_text(until),
                )
        self.hint.setText("\n".join(t for t in (f"{why}." if why else "", hint) if t))
        paused = s.paused
        for box, key, last in (
            (self.orders, "orders", s.orders.last_run),
            (self.catalog, "catalog", s.catalog.last_run),
        ):
            box.state.setText(
                _("Running") if s.running(key) else _("Paused") if paused else _("Waiting")
            )
            if last:
                box.last.setText(f"{ago(last.finished_at)} — {_status_word(last.status)}")
                box.last.setToolTip(run_summary(last))
            else:
                box.last.setText(_("never"))
            nxt = s.next_run(key)
            box.next.setText(_("paused") if paused else due_in(nxt) if nxt else "—")
        counts = s.orders.counts
        if not s.orders_enabled:
            reason = s.live.orders_disabled_reason if s.live else ""
            self.orders.state.setText(_("Off"))
            self.orders.next.setText("—")
            self.orders.counts.setText(_(reason) if reason else _("This ERP takes no orders"))
        else:
            self.orders.counts.setText(
                _(
                    "{done} sent, {pending} pending, {failed} failed",
                    done=counts.get("done", 0),
                    pending=counts.get("queued", 0)
                    + counts.get("sending", 0)
                    + counts.get("sent_to_erp", 0),
                    failed=counts.get("failed", 0),
                )
            )
        cat = s.catalog
        self.catalog.counts.setText(
            _(
                "{skus} products tracked, {pushed} updated in the last run, {unknown} missing "
                "in the store",
                skus=cat.skus,
                pushed=cat.items_pushed,
                unknown=cat.unknown_in_store,
            )
        )
        self.erp_conn.setText(_conn_text(s.connection("erp")))
        self.store_conn.setText(_conn_text(s.connection("store")))


def _status_word(status: str) -> str:
    return {
        "ok": _("OK"),
        "partial": _("with errors"),
        "failed": _("failed"),
        "interrupted": _("interrupted"),
        "skipped": _("skipped"),
        "held": _("on hold"),
    }.get(status, status)


def _conn_text(c: SideStatus) -> str:
    if c.ok is None:
        return _("not contacted yet")
    if c.ok:
        return _("connected ✓")
    # what it means and what to do, by the error's code (the engine's text is English)
    why = explain_code(c.code, "") if c.code else c.message
    return _("no connection ✗ — {message}", message=why)


class MainWindow(QMainWindow):
    syncRequested = Signal()
    skuSyncRequested = Signal(str)
    pauseToggled = Signal()
    pauseChosen = Signal(object)  # the end of a pause (wall time), or None: until resumed
    settingsRequested = Signal()
    aboutRequested = Signal()
    diagnosticsRequested = Signal()
    closed = Signal()
    hiddenToTray = Signal()  # closed while the tray runs: Bridge goes on in the tray

    TAB_OVERVIEW, TAB_LOG, TAB_ERRORS, TAB_HISTORY = range(4)

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Bridge")
        self.setWindowIcon(QIcon(tray_icon("stopped")))
        self._fit_to_screen()
        self.overview = Overview()
        self.log = LogView()
        self.errors = ErrorsView()
        self.history = HistoryView()
        self.tabs = QTabWidget()
        # the overview scrolls where the screen is short (a laptop at 150 %)
        overview = QScrollArea()
        overview.setObjectName("overviewScroll")
        overview.setWidgetResizable(True)
        overview.setFrameShape(QScrollArea.Shape.NoFrame)
        overview.setWidget(self.overview)
        self.tabs.addTab(overview, _("Overview"))
        self.tabs.addTab(self.log, _("Log"))
        self.tabs.addTab(self.errors, _("Errors"))
        self.tabs.addTab(self.history, _("History"))
        self.search = SearchView()
        self.products = ProductsView()
        self.tabs.addTab(self.search, _("Find an order"))
        self.tabs.addTab(self.products, _("Products"))
        self.setCentralWidget(self.tabs)
        bar = QToolBar()
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sync_action = QAction(_("Sync now"), self)
        self.sync_action.setObjectName("syncNow")
        self.sync_action.triggered.connect(self.syncRequested.emit)
        self.pause_action = QAction(_("Pause"), self)
        self.pause_action.setObjectName("pause")
        self.pause_action.triggered.connect(self.pauseToggled.emit)
        settings = QAction(_("Settings"), self)
        settings.triggered.connect(self.settingsRequested.emit)
        about = QAction(_("About"), self)
        about.triggered.connect(self.aboutRequested.emit)
        self.diagnostics_action = QAction(_("Export diagnostics…"), self)
        self.diagnostics_action.setObjectName("exportDiagnostics")
        self.diagnostics_action.setToolTip(
            _(
                "Save a zip for support: versions, settings, "
                "recent events and logs, without passwords or "
                "tokens"
            )
        )
        self.diagnostics_action.triggered.connect(self.diagnosticsRequested.emit)
        self.sku_action = QAction(_("Update one product…"), self)
        self.sku_action.setObjectName("syncSku")
        self.sku_action.triggered.connect(self._ask_sku)
        self.sku_action.setVisible(False)
        for a in (
            self.sync_action,
            self.sku_action,
            self.pause_action,
            settings,
            self.diagnostics_action,
            about,
        ):
            bar.addAction(a)
        self._sku_dialog: QInputDialog | None = None
        self.addToolBar(bar)
        self._keyboard(bar, settings, about)
        self.errors.showInLog.connect(self.show_in_log)
        self.statusBar().showMessage(_("Starting…"))
        self.quit_on_close = False
        self._icon_state = ""

    def _fit_to_screen(self) -> None:
        """980×640, never larger than the screen's free area (a laptop at 150 % has
        911×472 above the taskbar), with room for the title bar."""
        free = self.screen().availableGeometry()
        self.resize(min(980, free.width() - 24), min(640, free.height() - 48))

    def _keyboard(self, bar: QToolBar, settings: QAction, about: QAction) -> None:
        """Every command by keyboard: Tab reaches the toolbar's buttons, each has an Alt+letter
        (its mnemonic, in the UI's language), F5 syncs, Ctrl+F searches the log; the pause
        button's arrow offers how long."""
        self.pause_menu = ChoiceMenu(pause_choices, "pauseMenu")
        self.pause_menu.chosen.connect(self.pauseChosen.emit)
        pause_btn = bar.widgetForAction(self.pause_action)
        if isinstance(pause_btn, QToolButton):
            pause_btn.setMenu(self.pause_menu)
            pause_btn.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
            self.pause_menu_keys = MenuKeys(pause_btn)  # Alt+Down: for how long
        texts = (
            (self.sync_action, _("&Sync now")),
            (self.sku_action, _("&Update one product…")),
            (self.pause_action, _("&Pause")),
            (settings, _("S&ettings")),
            (self.diagnostics_action, _("E&xport diagnostics…")),
            (about, _("A&bout")),
        )
        for action, text in texts:
            action.setText(text)
            keys = [QKeySequence.mnemonic(text)]
            if action is self.sync_action:
                keys.insert(0, QKeySequence(Qt.Key.Key_F5))
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            button = bar.widgetForAction(action)
            if button is not None:
                button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.find_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        self.find_shortcut.activated.connect(self.focus_search)

    def focus_search(self) -> None:
        self.show_tab(self.TAB_LOG)
        self.log.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.log.search.selectAll()

    def set_pause(self, paused: bool, until: float | None) -> None:
        """The pause button: "Resume" (with until when) while paused, else "Pause"."""
        if paused:
            text = _("&Resume (paused {until})", until=until_text(until)) if until else _("&Resume")
        else:
            text = _("&Pause")
        self.pause_action.setText(text)
        self.pause_action.setShortcuts([QKeySequence.mnemonic(text)])

    def _ask_sku(self) -> None:
        # open(), not exec(): no nested modal loop inside the asyncio loop
        dialog = QInputDialog(self)
        dialog.setObjectName("skuDialog")
        dialog.setWindowTitle(_("Update one product"))
        dialog.setLabelText(_("SKU of the product to update now (e.g. ART!COLOR!SIZE):"))
        dialog.textValueSelected.connect(
            lambda text: self.skuSyncRequested.emit(text.strip()) if text.strip() else None
        )
        self._sku_dialog = dialog
        dialog.open()

    def set_status(self, s: Status) -> None:
        self.sku_action.setVisible(s.live is not None and s.live.sku_lookup)
        self.overview.set_status(s)
        self.pause_action.setText(_("Resume") if s.paused else _("Pause"))
        n = s.errors.open
        self.tabs.setTabText(self.TAB_ERRORS, _("Errors ({n})", n=n) if n else _("Errors"))
        state = s.state.value
        if state != self._icon_state:
            self._icon_state = state
            self.setWindowIcon(QIcon(tray_icon(state)))
        last = s.catalog.last_ok_at
        self.statusBar().showMessage(
            f"{state_name(state)} · " + _("last stock sync {when}", when=ago(last))
        )

    def show_tab(self, tab: int) -> None:
        self.tabs.setCurrentIndex(tab)
        self.show_and_raise()

    def show_in_log(self, text: str) -> None:
        self.log.show_matching(text)
        self.tabs.setCurrentIndex(self.TAB_LOG)

    def show_and_raise(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        # with a tray, closing the window only hides it: Bridge keeps syncing
        if self.quit_on_close:
            # without a tray closing is quitting: the app asks first when orders are pending
            event.ignore()
            self.closed.emit()
            return
        self.hiddenToTray.emit()
        event.accept()
