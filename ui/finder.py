"""What connects the views that find things (the search, the products view, an order's
detail from the log, the error list and the search) to the engine. Every engine call is
a task on the loop; the state file is read on its own thread (`state.call`), so the UI
never waits on disk."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from bridge.model import RunResult, RunStatus
from bridge.status import Status
from ui.i18n import _
from ui.order_detail import OrderDetail
from ui.products_view import ALL, MISSING
from ui.texts import explain_code, money

if TYPE_CHECKING:
    from ui.controller import AppController
    from ui.main_window import MainWindow

log = logging.getLogger("bridge.ui")


class Finder(QObject):
    def __init__(self, controller: AppController, window: MainWindow) -> None:
        super().__init__(window)
        self.controller = controller
        self.engine = controller.engine
        self.window = window
        self.details: list[OrderDetail] = []  # the ones open (kept alive until closed)
        self._catalog_run: int | None = None  # the last catalog run the products view shows
        window.search.searchRequested.connect(self.search)
        for view in (window.search, window.log, window.errors):
            view.orderRequested.connect(self.open_order)
        window.log.historySearchRequested.connect(self.search_history)
        window.errors.productsRequested.connect(self.show_products)
        window.products.refreshRequested.connect(self.load_products)
        window.products.skuSyncRequested.connect(self.sync_sku)
        window.tabs.currentChanged.connect(self._tab_shown)
        controller.statusChanged.connect(self._status)

    # -- the search --------------------------------------------------------------------------
    def search(self, text: str) -> None:
        self.controller.spawn(self._search(text), "search")

    async def _search(self, text: str) -> None:
        self.window.search.set_result(await self.engine.search(text))

    def search_history(self, text: str) -> None:
        self.window.tabs.setCurrentWidget(self.window.search)
        self.window.search.search_for(text)

    # -- an order's detail -------------------------------------------------------------------
    def open_order(self, store_order_id: str) -> None:
        self.controller.spawn(self._open_order(store_order_id), "order detail")

    async def _open_order(self, store_order_id: str) -> None:
        order = await self.engine.order(store_order_id)
        if order is None:
            self.window.errors.show_problem(
                _("Bridge has no record of this order any more (it may have been cleaned up).")
            )
            return
        dialog = OrderDetail(order, self.window)
        dialog.finished.connect(lambda _r: self._closed(dialog))
        self.details.append(dialog)
        dialog.show()  # not modal: the merchant may compare it with the log or the errors

    def _closed(self, dialog: OrderDetail) -> None:
        if dialog in self.details:
            self.details.remove(dialog)
        dialog.deleteLater()

    # -- the products ------------------------------------------------------------------------
    def _tab_shown(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.window.products:
            self.load_products()

    def load_products(self) -> None:
        self.controller.spawn(self._load_products(), "products")

    async def _load_products(self) -> None:
        self.window.products.set_products(await self.engine.products())

    def show_products(self, sku: str) -> None:
        """The products view: one SKU's row, or ("") every SKU missing in the store."""
        view = self.window.products
        view.search.setText(sku)
        view.which.setCurrentIndex(view.which.findData(ALL if sku else MISSING))
        self.window.tabs.setCurrentWidget(view)  # loads them
        if sku:
            self.controller.spawn(self._select(sku), "products")

    async def _select(self, sku: str) -> None:
        await self._load_products()
        self.window.products.select_sku(sku)

    def sync_sku(self, sku: str) -> None:
        """ "Update one product": its result in the products view, in its row."""
        self.window.tabs.setCurrentWidget(self.window.products)
        self.controller.spawn(self._sync_sku(sku), "sync one product")

    async def _sync_sku(self, sku: str) -> None:
        result: RunResult = await self.controller.sync_sku(sku)
        product = await self.engine.product(sku)
        ok = result.status == RunStatus.OK
        if ok and product is not None and product.stock is not None:
            text = _(
                "{sku} updated in the store: stock {stock}, price {price}.",
                sku=sku,
                stock=product.stock,
                price=money(product.price) if product.price else _("no price"),
            )
        else:
            text = _("{sku} could not be updated: {reason}", sku=sku, reason=sku_failure(result))
        self.window.products.show_result(sku, ok, text, product)

    def _status(self, status: Status) -> None:
        self.window.products.set_sku_lookup(status.live is not None and status.live.sku_lookup)
        run = status.catalog.last_run
        if run is not None and run.finished_at is not None and run.id != self._catalog_run:
            # a catalog run finished: the products view, when shown, follows it
            self._catalog_run = run.id
            if self.window.tabs.currentWidget() is self.window.products:
                self.load_products()


def sku_failure(result: RunResult) -> str:
    """Why one product could not be updated, in the merchant's words (the engine's text is
    English: it stays in the log, for support)."""
    one = {
        "sku_not_in_erp": lambda: _("the ERP has no product with this code"),
        "sku_unknown_in_store": lambda: _(
            "the store has no product with this code; create it in the store to publish its stock"
        ),
        "no_sku_lookup": lambda: _(
            "this ERP cannot look up a single product; use Sync now to update them all"
        ),
        "erp_row_invalid": lambda: _(
            "the ERP has invalid data for this product (a negative stock, a price that "
            "is not a number); correct it in the ERP"
        ),
    }.get(result.code)
    if one is not None:
        return one()
    return explain_code(result.code, result.kind).rstrip(".")
