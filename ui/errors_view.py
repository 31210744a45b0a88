"""The error list: what failed, why in plain words, the server's own message; retry one,
retry all, discard with a reason; double-click shows the item's story in the log."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
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

from bridge.status import ErrorRecord
from ui.i18n import _
from ui.texts import (
    check_detail,
    check_name,
    error_search_key,
    error_subject,
    explain_error,
    held_text,
)

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
    approveRequested = Signal(int)  # a held catalog run's number, confirmed by the merchant
    showInLog = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[ErrorRecord] = []
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("errorsTable")
        self.table.setHorizontalHeaderLabels(
            [_("What"), _("Type"), _("Why"), _("Times"), _("Last")]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        h = self.table.horizontalHeader()
        for c in (0, 1, 3, 4):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_detail)
        self.table.cellDoubleClicked.connect(lambda r, c: self._open_in_log())
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addLayout(bar)
        self._dialog: QInputDialog | QMessageBox | None = None
        self.set_errors([])

    def set_errors(self, errors: list[ErrorRecord]) -> None:
        selected = self.selected()
        self.errors = errors
        self.table.setRowCount(len(errors))
        for r, e in enumerate(errors):
            kind = KIND_NAMES.get(e.kind, lambda e=e: e.kind)()
            cells = [
                error_subject(e),
                kind,
                explain_error(e),
                str(e.count),
                time.strftime("%d/%m %H:%M", time.localtime(e.last_at)),
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(explain_error(e))
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        has = bool(errors)
        self.empty.setVisible(not has)
        self.table.setVisible(has)
        self.detail.setVisible(has)
        self.retry_all_btn.setEnabled(has)
        if selected is not None:
            for r, e in enumerate(errors):
                if e.id == selected.id:
                    self.table.selectRow(r)
        self._show_detail()

    def selected(self) -> ErrorRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.errors):
            return None
        return self.errors[rows[0].row()]

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def _show_detail(self) -> None:
        e = self.selected()
        for b in (self.retry_btn, self.discard_btn, self.log_btn):
            b.setEnabled(e is not None)
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
        e = self.selected()
        if e is not None:
            self.retryRequested.emit(e.id)

    def _discard(self) -> None:
        e = self.selected()
        if e is None:
            return
        # open(), not exec(): never a nested modal loop inside the asyncio loop
        dialog = QInputDialog(self)
        dialog.setWindowTitle(_("Discard"))
        dialog.setLabelText(
            _('Why is "{what}" discarded? (it will not be sent)', what=error_subject(e))
        )
        dialog.setObjectName("discardDialog")
        error_id = e.id

        def accepted(text: str) -> None:
            reason = text.strip() or _("discarded by the user")
            self.discardRequested.emit(error_id, reason)

        dialog.textValueSelected.connect(accepted)
        self._dialog = dialog
        dialog.open()

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

    def _open_in_log(self) -> None:
        e = self.selected()
        if e is not None:
            self.showInLog.emit(error_search_key(e) or error_subject(e))


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
