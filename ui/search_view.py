"""Search the whole history: the orders whose number, ERP reference, buyer, CUIT/DNI (with
or without dashes) or an item's SKU match, and the log lines that mention it, from the
state file (`Engine.search`, run on the state's thread; the live log keeps only the newest
events). Double-click an order, or a line about one, to open its detail."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from bridge.status import EventRecord, OrderSummary, SearchResult
from ui.i18n import _
from ui.order_detail import order_state_name
from ui.texts import event_text, money

ModelIndex = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """A read-only table of records, each shown as the cells `cells(record)` gives."""

    def __init__(self, headers: Callable[[], list[str]], cells: Callable[[Any], list[str]]):
        super().__init__()
        self.records: list[Any] = []
        self._headers = headers
        self._cells = cells
        self._shown: list[list[str]] = []

    def set_records(self, records: Sequence[Any]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self._shown = [self._cells(r) for r in self.records]
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._headers())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._headers()[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._shown[index.row()][index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return self.records[index.row()]
        return None


def _order_cells(o: OrderSummary) -> list[str]:
    return [
        o.number,
        time.strftime("%d/%m/%Y %H:%M", time.localtime(o.created_at)),
        o.buyer_name,
        o.tax_id,
        money(o.total) if o.total else "",
        order_state_name(o.state),
        o.erp_reference or "",
    ]


def _event_cells(e: EventRecord) -> list[str]:
    return [
        time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(e.ts)),
        event_text(e.code, dict(e.data), e.message),
    ]


def _table(name: str, model: RowsModel) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setTabKeyNavigation(False)  # Tab leaves the table for the next control
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class SearchView(QWidget):
    searchRequested = Signal(str)  # the text to look for in the whole history
    orderRequested = Signal(str)  # a store order's id, to open its detail

    def __init__(self) -> None:
        super().__init__()
        self.query = QLineEdit()
        self.query.setObjectName("historySearch")
        self.query.setPlaceholderText(
            _("Order number, buyer, CUIT or DNI (with or without dashes), SKU…")
        )
        self.query.setClearButtonEnabled(True)
        go = QPushButton(_("Search"))
        go.setObjectName("historySearchButton")
        self.summary = QLabel(_("Search every order Bridge has taken, not only the recent ones."))
        self.summary.setObjectName("searchSummary")
        self.summary.setWordWrap(True)
        self.orders = RowsModel(
            lambda: [
                _("Order"),
                _("Received"),
                _("Buyer"),
                _("CUIT/DNI"),
                _("Total"),
                _("State"),
                _("ERP reference"),
            ],
            _order_cells,
        )
        self.events = RowsModel(lambda: [_("Time"), _("Message")], _event_cells)
        self.orders_table = _table("searchOrders", self.orders)
        self.events_table = _table("searchEvents", self.events)
        self.orders_table.doubleClicked.connect(self._open_order)
        self.events_table.doubleClicked.connect(self._open_event)
        # a pause in the typing searches (the query runs on the state's thread, never here)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self.search)
        self.query.textChanged.connect(lambda _t: self._timer.start())
        self.query.returnPressed.connect(self.search)
        go.clicked.connect(self.search)
        bar = QHBoxLayout()
        bar.addWidget(self.query, 1)
        bar.addWidget(go)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel(_("Orders")))
        layout.addWidget(self.orders_table, 3)
        layout.addWidget(QLabel(_("Log lines")))
        layout.addWidget(self.events_table, 2)
        self._asked = ""

    def search_for(self, text: str) -> None:
        """Search for `text` now (the log's "Search all history")."""
        self.query.setText(text)
        self.search()

    def search(self) -> None:
        self._timer.stop()
        text = self.query.text().strip()
        self._asked = text
        if not text:
            self.set_result(SearchResult("", (), ()))
            return
        self.summary.setText(_("Searching…"))
        self.searchRequested.emit(text)

    def set_result(self, result: SearchResult) -> None:
        if result.text.strip() != self._asked:
            return  # an older search answered after a newer one was asked
        self.orders.set_records(result.orders)
        self.events.set_records(result.events)
        if not result.text.strip():
            self.summary.setText(
                _("Search every order Bridge has taken, not only the recent ones.")
            )
        elif not result.orders and not result.events:
            self.summary.setText(_("Nothing found for “{query}”.", query=result.text.strip()))
        else:
            self.summary.setText(
                _(
                    "Found for “{query}”: orders, {orders}; log lines, {lines}. "
                    "Double-click an order to see its detail.",
                    orders=len(result.orders),
                    lines=len(result.events),
                    query=result.text.strip(),
                )
            )

    def _open_order(self, index: QModelIndex) -> None:
        record = self.orders.data(index, Qt.ItemDataRole.UserRole)
        if isinstance(record, OrderSummary):
            self.orderRequested.emit(record.store_order_id)

    def _open_event(self, index: QModelIndex) -> None:
        record = self.events.data(index, Qt.ItemDataRole.UserRole)
        if isinstance(record, EventRecord) and record.data.get("order"):
            self.orderRequested.emit(str(record.data["order"]))
