"""Every product Bridge knows: what it pushed last (stock, price, when), which failed and
why, and which the store does not have; filtered by text and by "which", exported to CSV.
A model/view (thousands of SKUs in one table stay fast: the view asks only for the rows
it paints). Read from `Engine.products`; "Update one product" shows its result here."""

from __future__ import annotations

import csv
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from bridge.status import ProductRecord
from ui.i18n import _
from ui.texts import explain_code, money

ModelIndex = QModelIndex | QPersistentModelIndex


def problem(p: ProductRecord) -> str:
    """Why the product's last update failed, in the merchant's words (the engine's text,
    in English, is in the log and the error list's detail)."""
    if not p.error:
        return ""
    return explain_code(p.error_code, p.error_kind or "data") if p.error_code else p.error


ALL, FAILED, MISSING = "all", "failed", "missing"


def _when(ts: float | None) -> str:
    return time.strftime("%d/%m/%Y %H:%M", time.localtime(ts)) if ts else "—"


class ProductsModel(QAbstractTableModel):
    COLUMNS = 6  # SKU, stock, price, updated, in the store, problem

    def __init__(self) -> None:
        super().__init__()
        self.products: list[ProductRecord] = []
        self._row: dict[str, int] = {}

    def headers(self) -> list[str]:
        return [_("SKU"), _("Stock"), _("Price"), _("Updated"), _("In the store"), _("Problem")]

    def set_products(self, products: list[ProductRecord]) -> None:
        self.beginResetModel()
        self.products = list(products)
        self._row = {p.sku: i for i, p in enumerate(self.products)}
        self.endResetModel()

    def update_product(self, product: ProductRecord) -> None:
        """One product's row changed (or appeared) without reloading the others."""
        row = self._row.get(product.sku)
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self.products), len(self.products))
            self._row[product.sku] = len(self.products)
            self.products.append(product)
            self.endInsertRows()
            return
        self.products[row] = product
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.COLUMNS - 1))

    def row_of(self, sku: str) -> int | None:
        return self._row.get(sku)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.products)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMNS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers()[section]
        return None

    @staticmethod
    def cells(p: ProductRecord) -> list[str]:
        return [
            p.sku,
            "—" if p.stock is None else str(p.stock),
            "—" if p.price is None else (money(p.price) if p.price else _("no price")),
            _when(p.pushed_at),
            "—" if p.stock is None else (_("yes") if p.known_in_store else _("no, missing")),
            problem(p),
        ]

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        p = self.products[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole or (
            role == Qt.ItemDataRole.ToolTipRole and col == 5
        ):
            return self.cells(p)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if p.error and col in (0, 5):
                return QBrush(QColor("#C62828"))
            if not p.known_in_store and col in (0, 4):
                return QBrush(QColor("#B26A00"))
        if role == Qt.ItemDataRole.UserRole:
            return p
        return None


class ProductsFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.which = ALL

    def set_filters(self, *, text: str | None = None, which: str | None = None) -> None:
        self.beginFilterChange()
        if text is not None:
            self.text = text.strip().lower()
        if which is not None:
            self.which = which
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, ProductsModel)
        p = model.products[source_row]
        if self.which == FAILED and not p.error:
            return False
        if self.which == MISSING and (p.known_in_store or p.stock is None):
            return False
        if self.text:
            return self.text in p.sku.lower() or self.text in problem(p).lower()
        return True


class ProductsView(QWidget):
    refreshRequested = Signal()
    skuSyncRequested = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.model = ProductsModel()
        self.proxy = ProductsFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("productsTable")
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the next control
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # fixed row heights and interactive columns: nothing measures thousands of rows
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.resizeSection(0, 180)
        header.resizeSection(3, 130)

        self.search = QLineEdit()
        self.search.setObjectName("productsSearch")
        self.search.setPlaceholderText(_("Filter by SKU or problem"))
        self.search.setClearButtonEnabled(True)
        self.which = QComboBox()
        self.which.setObjectName("productsWhich")
        for value, label in (
            (ALL, _("All products")),
            (FAILED, _("With a problem")),
            (MISSING, _("Missing in the store")),
        ):
            self.which.addItem(label, value)
        self.update_btn = QPushButton(_("Update this product"))
        self.update_btn.setObjectName("productsUpdate")
        self.update_btn.setToolTip(_("Ask the ERP for this product's stock and price now"))
        self.update_btn.setVisible(False)
        refresh = QPushButton(_("Refresh"))
        refresh.setObjectName("productsRefresh")
        export = QPushButton(_("Export…"))
        export.setObjectName("productsExport")
        self.count = QLabel()
        self.count.setObjectName("productsCount")
        self.result = QLabel()
        self.result.setObjectName("productsResult")
        self.result.setWordWrap(True)
        self.result.setVisible(False)

        self.search.textChanged.connect(self._filter_text)
        self.which.currentIndexChanged.connect(
            lambda: self._filter(which=str(self.which.currentData()))
        )
        self.update_btn.clicked.connect(self._update_selected)
        refresh.clicked.connect(self.refreshRequested.emit)
        export.clicked.connect(self.export)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._enable())

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.which)
        bar.addWidget(self.update_btn)
        bar.addWidget(refresh)
        bar.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.result)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        self._dialog: QFileDialog | None = None
        self._enable()
        self._count()

    # -- contents ----------------------------------------------------------------------------
    def set_products(self, products: list[ProductRecord]) -> None:
        selected = self.selected()
        self.model.set_products(products)
        if selected is not None:
            self.select_sku(selected.sku)
        self._count()

    def show_result(self, sku: str, ok: bool, text: str, product: ProductRecord | None) -> None:
        """The result of updating one product, in place: its row (selected, shown even when
        the filter hid it) and a line above the table."""
        if product is not None:
            self.model.update_product(product)
        if self.select_sku(sku) is None and product is not None:
            self.search.clear()
            self.which.setCurrentIndex(0)
            self.select_sku(sku)
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else "color: #C62828;")
        self.result.setVisible(True)
        self._count()

    def select_sku(self, sku: str) -> int | None:
        row = self.model.row_of(sku)
        if row is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return None
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return index.row()

    def selected(self) -> ProductRecord | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        record = self.proxy.data(rows[0], Qt.ItemDataRole.UserRole)
        return record if isinstance(record, ProductRecord) else None

    def set_sku_lookup(self, available: bool) -> None:
        self.update_btn.setVisible(available)

    def visible_products(self) -> list[ProductRecord]:
        return [
            self.proxy.data(self.proxy.index(r, 0), Qt.ItemDataRole.UserRole)
            for r in range(self.proxy.rowCount())
        ]

    # -- filters -----------------------------------------------------------------------------
    def _filter_text(self, text: str) -> None:
        self._filter(text=text)

    def _filter(self, **kw: str) -> None:
        self.proxy.set_filters(**kw)
        self._count()
        self._enable()

    def _count(self) -> None:
        products = self.model.products
        self.count.setText(
            _(
                "Showing {shown} of {total} products · {failed} with a problem · "
                "{missing} missing in the store",
                shown=self.proxy.rowCount(),
                total=len(products),
                failed=sum(1 for p in products if p.error),
                missing=sum(1 for p in products if not p.known_in_store and p.stock is not None),
            )
        )

    def _enable(self) -> None:
        self.update_btn.setEnabled(self.selected() is not None)

    def _update_selected(self) -> None:
        p = self.selected()
        if p is not None:
            self.result.setText(_("Updating {sku}…", sku=p.sku))
            self.result.setStyleSheet("")
            self.result.setVisible(True)
            self.skuSyncRequested.emit(p.sku)

    # -- export ------------------------------------------------------------------------------
    def export(self) -> None:
        # open(), not exec(): this runs inside the asyncio loop (qasync)
        dialog = QFileDialog(self, _("Export products"), "bridge-products.csv", "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(self.export_to)
        self._dialog = dialog
        dialog.open()

    def export_to(self, path: str) -> None:
        """The products the filters show, to a CSV file. Excel set to Spanish (Argentina)
        uses the comma as its decimal mark and so expects ';' between fields, and it reads
        a CSV as the system's ANSI code page unless the file starts with a UTF-8 BOM: with
        both (utf-8-sig, ';') it opens by double-click with its columns and accents right."""
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            w = csv.writer(fh, delimiter=";")
            w.writerow(self.model.headers())
            for p in self.visible_products():
                w.writerow(
                    [
                        p.sku,
                        "" if p.stock is None else p.stock,
                        # the decimal comma, as the merchant's Excel reads numbers
                        (p.price or "").replace(".", ","),
                        _when(p.pushed_at) if p.pushed_at else "",
                        "" if p.stock is None else (_("yes") if p.known_in_store else _("no")),
                        problem(p),
                    ]
                )
