"""First run: try Bridge with sample data (the demo), or connect your ERP (settings, test,
then a preview of what the first sync would change and send)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCommandLinkButton,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bridge.status import FirstSyncPreview
from ui.i18n import _, plural
from ui.icons import app_icon
from ui.texts import money


class FirstRunDialog(QDialog):
    demoChosen = Signal()
    connectChosen = Signal()
    quitChosen = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.setWindowTitle(_("Welcome to Bridge"))
        self.setWindowIcon(app_icon())
        self.resize(560, 360)
        title = QLabel(_("Welcome to Bridge"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        text = QLabel(
            _(
                "Bridge takes every order from your VentasxMayor store to your ERP, "
                "exactly once, and keeps the store's stock and prices up to date with "
                "the ERP. It runs next to your ERP and only connects outwards."
            )
        )
        text.setWordWrap(True)
        self.demo_btn = QCommandLinkButton(
            _("Try it with sample data"),
            _(
                "A simulated ERP and store on this PC: watch orders and stock flow. Nothing "
                "touches your real systems."
            ),
        )
        self.demo_btn.setObjectName("chooseDemo")
        self.connect_btn = QCommandLinkButton(
            _("Connect my ERP"),
            _(
                "Enter your ERP's and your store's details, test the connection, and see what "
                "the first sync would change before it runs."
            ),
        )
        self.connect_btn.setObjectName("chooseConnect")
        quit_btn = QPushButton(_("Quit"))
        self.demo_btn.clicked.connect(self._demo)
        self.connect_btn.clicked.connect(self._connect)
        quit_btn.clicked.connect(self._quit)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(12)
        layout.addWidget(self.demo_btn)
        layout.addWidget(self.connect_btn)
        layout.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(quit_btn)
        layout.addLayout(row)
        self._chosen = False

    def _demo(self) -> None:
        self._chosen = True
        self.accept()
        self.demoChosen.emit()

    def _connect(self) -> None:
        self._chosen = True
        self.accept()
        self.connectChosen.emit()

    def _quit(self) -> None:
        self._chosen = True
        self.reject()
        self.quitChosen.emit()

    def reject(self) -> None:
        super().reject()
        if not self._chosen:
            self._chosen = True
            self.quitChosen.emit()


class PreviewDialog(QDialog):
    """After the settings are saved: what the first sync would do, with examples (products
    and the stock and price they would get, the store's orders that would go to the ERP).
    "Back" returns to the settings, "Cancel" leaves, "Start syncing" starts."""

    startChosen = Signal()
    backChosen = Signal()
    BACK = 2  # the dialog's result when "Back" was chosen (neither accepted nor rejected)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewDialog")
        self.setWindowTitle(_("First sync"))
        self.resize(720, 560)
        self.text = QLabel(_("Comparing the ERP's stock and prices with the store…"))
        self.text.setObjectName("previewText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.products_label = QLabel(_("For example, these products would change:"))
        self.products = QTableWidget(0, 3)
        self.products.setObjectName("previewProducts")
        self.products.setHorizontalHeaderLabels([_("Product (SKU)"), _("Stock"), _("Price")])
        self.orders_label = QLabel()
        self.orders_label.setObjectName("previewOrdersLabel")
        self.orders_label.setWordWrap(True)
        self.orders = QTableWidget(0, 4)
        self.orders.setObjectName("previewOrders")
        self.orders.setHorizontalHeaderLabels([_("Order"), _("Buyer"), _("Units"), _("Total")])
        for table in (self.products, self.orders):
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.verticalHeader().setVisible(False)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setStretchLastSection(True)
            table.setTabKeyNavigation(False)  # Tab goes on to the buttons
        for w in (self.products_label, self.products, self.orders_label, self.orders):
            w.setVisible(False)
        self.back_btn = QPushButton(_("< &Back"))
        self.back_btn.setObjectName("previewBack")
        self.back_btn.clicked.connect(self._back)
        self.cancel_btn = QPushButton(_("&Cancel"))
        self.cancel_btn.setObjectName("previewCancel")
        self.cancel_btn.clicked.connect(self.reject)
        self.start_btn = QPushButton(_("&Start syncing"))
        self.start_btn.setObjectName("startSync")
        self.start_btn.setEnabled(False)
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self._start)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.products_label)
        layout.addWidget(self.products, 1)
        layout.addWidget(self.orders_label)
        layout.addWidget(self.orders, 1)
        layout.addStretch(0)
        row = QHBoxLayout()
        row.addWidget(self.back_btn)
        row.addStretch(1)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.start_btn)
        layout.addLayout(row)

    def show_preview(self, p: FirstSyncPreview) -> None:
        self.text.setText(
            _(
                "The ERP has <b>{variants}</b> products. The first sync would change the stock or "
                "price of <b>{would_change}</b> of the store's {store_products} products. "
                "<b>{unknown_in_store}</b> ERP products do not exist in the store and will be "
                "listed so you can create them.",
                **p.counts,
            )
        )
        self.products.setRowCount(len(p.products))
        for i, e in enumerate(p.products):
            price = _(
                "{before} → {after}",
                before=_money(e.price_now),
                after=_money(e.price),
            )
            if e.price is None or _same(e.price_now, e.price):
                price = _("{now} (stays)", now=_money(e.price_now))
            cells = [
                e.sku,
                _("{before} → {after}", before=_shown(e.stock_now), after=e.stock)
                if e.stock_now != e.stock
                else _("{now} (stays)", now=e.stock),
                price,
            ]
            for c, text in enumerate(cells):
                self.products.setItem(i, c, QTableWidgetItem(text))
        self.products_label.setVisible(bool(p.products))
        self.products.setVisible(bool(p.products))
        if p.orders_total:
            more = p.orders_total - len(p.orders)
            self.orders_label.setText(
                plural(
                    p.orders_total,
                    _("{n} confirmed order in the store will go to the ERP:"),
                    _("{n} confirmed orders in the store will go to the ERP:"),
                )
                + (" " + _("(the first {shown} are shown)", shown=len(p.orders)) if more else "")
            )
        else:
            self.orders_label.setText(_("No confirmed orders are waiting in the store."))
        self.orders.setRowCount(len(p.orders))
        for i, o in enumerate(p.orders):
            for c, text in enumerate((o.number, o.buyer, str(o.items), money(o.total))):
                self.orders.setItem(i, c, QTableWidgetItem(text))
        self.orders_label.setVisible(True)
        self.orders.setVisible(bool(p.orders))
        self.start_btn.setEnabled(True)
        self.start_btn.setFocus()

    def show_failure(self, message: str) -> None:
        self.text.setText(
            _(
                "The preview could not be made: {message}. You can start anyway; "
                "problems will show in the error list.",
                message=message,
            )
        )
        self.start_btn.setEnabled(True)

    def _start(self) -> None:
        self.accept()
        self.startChosen.emit()

    def _back(self) -> None:
        self.done(self.BACK)
        self.backChosen.emit()


def _shown(value: object) -> str:
    """A figure as the store sent it (none: a dash)."""
    return "—" if value is None else str(value)


def _money(value: object) -> str:
    """A price the Argentine way ($ 1.234,50); none: a dash."""
    return "—" if value is None else money(str(value))


def _same(a: object, b: object) -> bool:
    """Two prices equal as amounts ("100" and "100.00")."""
    try:
        return a is not None and b is not None and Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return str(a) == str(b)
