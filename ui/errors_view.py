"""The error list: what failed, why in plain words, the server's own message; retry one,
retry all, discard with a reason; double-click opens an order's detail (other items: their story in the log)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from bridge.engine import UNDO_DISCARD_S
from bridge.status import ErrorRecord
from ui.i18n import _
from ui.texts import (
    cause_row_text,
    check_detail,
    check_name,
    error_search_key,
    error_subject,
    explain_error,
    held_text,
)

# how long "Undo" is offered after a discard (s; the engine allows UNDO_DISCARD_S)
UNDO_S = min(300.0, UNDO_DISCARD_S)

KIND_NAMES: dict[str, Callable[[], str]] = {
    "transient": lambda: _("Temporary"),
    "data": lambda: _("Data to fix"),
    "auth": lambda: _("Credentials"),
    "config": lambda: _("Settings"),
}


class ErrorsView(QWidget):
    retryRequested = Signal(int)
    retryAllRequested = Signal()
    discardRequested = Signal(int, str)
    undoDiscardRequested = Signal(int)
    approveRequested = Signal(int)  # a held catalog run's number, confirmed by the merchant
    showInLog = Signal(str)
    orderRequested = Signal(str)  # a store order's id, to open its detail
    productsRequested = Signal(str)  # a SKU to show in the products view, "" for the missing

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[ErrorRecord] = []
        # the table's rows: one per error, or one per root cause its errors share
        self.rows: list[list[ErrorRecord]] = []
        self.erp_title = ""
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("errorsTable")
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the buttons
        self.table.setHorizontalHeaderLabels(
            [_("What"), _("Type"), _("Why"), _("Times"), _("Last")]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # rows as tall as their wrapped text at the columns' current width (also after the
        # window is resized), not as measured before the columns got their width
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        h = self.table.horizontalHeader()
        for c in (1, 3, 4):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        # "What" and "Why" share the width (a cause's long "What" would leave "Why" a few
        # words wide, its rows twenty lines tall)
        for c in (0, 2):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_detail)
        self.table.cellDoubleClicked.connect(lambda r, c: self._open_item())
        self.detail = QTextBrowser()
        self.detail.setObjectName("errorDetail")
        self.detail.setMaximumHeight(140)
        self.empty = QLabel(
            _("No problems. Everything that failed is listed here, with what to do about it.")
        )
        self.empty.setWordWrap(True)
        self.retry_btn = QPushButton(_("Retry"))
        self.retry_btn.setObjectName("retryButton")
        self.retry_all_btn = QPushButton(_("Retry all"))
        self.retry_all_btn.setObjectName("retryAllButton")
        self.discard_btn = QPushButton(_("Discard…"))
        self.discard_btn.setObjectName("discardButton")
        self.log_btn = QPushButton(_("Show in log"))
        # a held catalog run: pushing it anyway is its own, confirmed action (never a retry)
        self.approve_btn = QPushButton(_("Push anyway…"))
        self.approve_btn.setObjectName("approveButton")
        self.approve_btn.clicked.connect(self._approve)
        self.retry_btn.clicked.connect(self._retry)
        self.retry_all_btn.clicked.connect(self.retryAllRequested.emit)
        self.discard_btn.clicked.connect(self._discard)
        self.log_btn.clicked.connect(self._open_in_log)
        bar = QHBoxLayout()
        for b in (
            self.retry_btn,
            self.retry_all_btn,
            self.discard_btn,
            self.approve_btn,
            self.log_btn,
        ):
            bar.addWidget(b)
        bar.addStretch(1)
        # after a discard: what was discarded, and "Undo" for UNDO_S
        self.undo_label = QLabel()
        self.undo_label.setObjectName("undoLabel")
        self.undo_btn = QPushButton(_("Undo"))
        self.undo_btn.setObjectName("undoDiscardButton")
        self.undo_btn.clicked.connect(self._undo)
        self.undo_bar = QWidget()
        undo = QHBoxLayout(self.undo_bar)
        undo.setContentsMargins(0, 0, 0, 0)
        undo.addWidget(self.undo_label, 1)
        undo.addWidget(self.undo_btn)
        self.undo_bar.setVisible(False)
        self._undo_id: int | None = None
        self._discarding: dict[int, str] = {}  # discards asked for, not yet answered
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self._forget_undo)
        # the error (or its subject) the merchant works on: kept selected through refreshes
        self._keep: tuple[int, str] | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.undo_bar)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addLayout(bar)
        self._dialog: QInputDialog | QMessageBox | None = None
        self.set_errors([])

    def set_errors(self, errors: list[ErrorRecord]) -> None:
        selected = self.selected()
        if selected is not None:
            self._keep = (selected.id, str(selected.subject))
        self.errors = errors
        self.rows = group_errors(errors)
        self.table.clearSelection()
        self.table.setRowCount(len(self.rows))
        for r, members in enumerate(self.rows):
            e = members[0]
            kind = KIND_NAMES.get(e.kind, lambda e=e: e.kind)()
            what = error_subject(e)
            if e.cause is not None and len(members) > 1:
                orders = sum(1 for m in members if m.subject.order_id is not None)
                what = cause_row_text(e.cause, orders, self.erp_title)
            cells = [
                what,
                kind,
                explain_error(e),
                str(sum(m.count for m in members)),
                time.strftime("%d/%m %H:%M", time.localtime(max(m.last_at for m in members))),
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(explain_error(e))
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                self.table.setItem(r, c, item)
        has = bool(errors)
        self.empty.setVisible(not has)
        self.table.setVisible(has)
        self.detail.setVisible(has)
        self.retry_all_btn.setEnabled(has)
        # the same error, else the same subject (a retry closes the error and may open a new
        # one of the order), never whatever row now sits at the same index
        if self._keep is not None:
            keep_id, keep_subject = self._keep
            rows = [r for r, g in enumerate(self.rows) if any(e.id == keep_id for e in g)] or [
                r for r, g in enumerate(self.rows) if any(str(e.subject) == keep_subject for e in g)
            ]
            if rows:
                self.table.selectRow(rows[0])
        self._show_detail()

    def selected(self) -> ErrorRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()][0]

    def selected_group(self) -> list[ErrorRecord]:
        """Every error of the selected row (several when they share a root cause)."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return []
        return self.rows[rows[0].row()]

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
        e = self.selected()
        self._keep = (e.id, str(e.subject)) if e is not None else None

    def _show_detail(self) -> None:
        e = self.selected()
        for b in (self.retry_btn, self.discard_btn, self.log_btn):
            b.setEnabled(e is not None)
        # one cause's many orders are not discarded in one go
        self.discard_btn.setEnabled(e is not None and len(self.selected_group()) == 1)
        held = e.held if e is not None else None
        self.approve_btn.setVisible(held is not None)
        self.approve_btn.setEnabled(held is not None)
        if e is None:
            self.detail.setPlainText("")
            return
        if e.findings:
            # the ERP install does not match the settings: each point, and what to change
            points = "".join(
                f"<li><b>{_esc(check_name(f.subject))}</b>: "
                f"{_esc(check_detail(f.code, (*f.params, ('setting', f.setting)), f.message))}"
                "</li>"
                for f in e.findings
            )
            self.detail.setHtml(
                f"<b>{_esc(error_subject(e))}</b><br>{_esc(explain_error(e))}<ul>{points}</ul>"
            )
            return
        server = e.server_message or _("(none)")
        self.detail.setHtml(
            f"<b>{_esc(error_subject(e))}</b><br>{_esc(explain_error(e))}<br><br>"
            f"<b>{_esc(_('Server message'))}:</b> {_esc(server)}<br>"
            f"<b>{_esc(_('Technical detail (for support)'))}:</b> {_esc(e.message)}"
        )

    def _retry(self) -> None:
        for e in self.selected_group():
            self.retryRequested.emit(e.id)

    def _discard(self) -> None:
        e = self.selected()
        if e is None:
            return
        # open(), not exec(): never a nested modal loop inside the asyncio loop
        dialog = QInputDialog(self)
        dialog.setWindowTitle(_("Discard"))
        dialog.setLabelText(
            _(
                'Why is "{what}" discarded? (it will not be sent; you can undo it for a '
                "few minutes)",
                what=error_subject(e),
            )
        )
        dialog.setObjectName("discardDialog")
        error_id, what = e.id, error_subject(e)

        def typed(text: str) -> None:  # a reason is required
            ok = dialog.findChild(QDialogButtonBox)  # Qt builds it when the dialog opens
            if ok is not None:
                button = ok.button(QDialogButtonBox.StandardButton.Ok)
                if button is not None:
                    button.setEnabled(bool(text.strip()))

        dialog.textValueChanged.connect(typed)

        def accepted(text: str) -> None:
            reason = text.strip()
            if not reason:
                return
            self._discarding[error_id] = what  # Undo is offered once the engine did it
            self.discardRequested.emit(error_id, reason)

        dialog.textValueSelected.connect(accepted)
        self._dialog = dialog
        dialog.open()
        typed(dialog.textValue())

    def discard_done(self, error_id: int, done: bool) -> None:
        """The engine's answer to a discard: done (Undo offered) or refused."""
        what = self._discarding.pop(error_id, None)
        if done and what is not None:
            self._offer_undo(error_id, what)

    def _offer_undo(self, error_id: int, what: str) -> None:
        self._undo_id = error_id
        self.undo_label.setText(_('"{what}" was discarded.', what=what))
        self.undo_bar.setVisible(True)
        self._undo_timer.start(int(UNDO_S * 1000))

    def _undo(self) -> None:
        if self._undo_id is not None:
            self._keep = (self._undo_id, "")
            self.undoDiscardRequested.emit(self._undo_id)
        self._forget_undo()

    def _forget_undo(self) -> None:
        self._undo_id = None
        self._undo_timer.stop()
        self.undo_bar.setVisible(False)

    def _approve(self) -> None:
        e = self.selected()
        held = e.held if e is not None else None
        if held is None:
            return
        run_id = int(held.run_id)
        box = QMessageBox(self)
        box.setObjectName("approveDialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(_("Push the held sync anyway?"))
        # the examples are in the text itself (a "Show Details…" button would be Qt's own,
        # untranslated)
        box.setText(held_text(held))
        box.setInformativeText(
            _(
                "Bridge reads the ERP again now and pushes it if it is no worse than this. Only do "
                "it if these changes are real (for example, you really ran out of stock)."
            )
        )
        push = box.addButton(_("Push anyway"), QMessageBox.ButtonRole.AcceptRole)
        push.setObjectName("approvePush")
        cancel = box.addButton(_("Cancel"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)

        def finished() -> None:
            if box.clickedButton() is push:
                self.approveRequested.emit(run_id)

        box.finished.connect(lambda _r: finished())
        self._dialog = box
        # open(), not exec(): never a nested modal loop inside the asyncio loop
        box.open()

    def show_problem(self, text: str) -> None:
        """Tell the merchant why a command did nothing (opened, never exec'd)."""
        box = QMessageBox(
            QMessageBox.Icon.Information, _("Bridge"), text, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("problemDialog")
        self._dialog = box
        box.open()

    def _open_item(self) -> None:
        """Double-click: an order's detail, a product's row (the SKUs missing in the
        store: all of them), or the item's story in the log."""
        e = self.selected()
        if e is not None and e.subject.order_id is not None:
            self.orderRequested.emit(e.subject.order_id)
        elif e is not None and e.subject.sku_code:
            self.productsRequested.emit(e.subject.sku_code)
        elif e is not None and e.code == "sku_unknown_in_store":
            self.productsRequested.emit("")  # every one of them, not the few the text names
        else:
            self._open_in_log()

    def _open_in_log(self) -> None:
        e = self.selected()
        if e is not None:
            self.showInLog.emit(error_search_key(e) or error_subject(e))


def group_errors(errors: list[ErrorRecord]) -> list[list[ErrorRecord]]:
    """One row per error, except errors that share a root cause: one row for them all,
    where the first of them is (the list's order is kept)."""
    rows: list[list[ErrorRecord]] = []
    by_cause: dict[str, list[ErrorRecord]] = {}
    for e in errors:
        if e.cause is not None and e.cause in by_cause:
            by_cause[e.cause].append(e)
            continue
        row = [e]
        rows.append(row)
        if e.cause is not None:
            by_cause[e.cause] = row
    return rows


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
