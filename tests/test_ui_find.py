"""Finding any order and seeing every product in the tray app (issue #14, points 4 and 5):
the real widgets, offscreen, against the simulators over loopback, in Spanish (es-AR)."""

from __future__ import annotations

import csv
import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from tests import test_ui
from tests.test_ui import run, start_app, stop_app, until

# the tray app's fixtures (a qasync loop on the QApplication, a profile on the simulators)
qloop = test_ui.qloop
ui_profile = test_ui.ui_profile


def double_click(qtbot, table, row: int) -> None:
    """A real double-click on a table's row (its first cell)."""
    index = table.model().index(row, 0)
    table.scrollTo(index)
    rect = table.visualRect(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_find_any_order_and_open_its_detail_from_search_log_and_errors(
    qtbot, qloop, ui_profile, sims
):
    erp, store = sims
    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            w.resize(1366, 768)
            w.show()
            good = store.call(lambda: store.add_order())
            bad = store.call(
                lambda: store.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
            )
            w.sync_action.trigger()
            await until(lambda: len(w.errors.errors) == 1, what="the bad order's error")
            await until(
                lambda: any(r.code == "order_done" for r in w.log.model.rows), what="order done"
            )
            await app.controller.engine.flush()

            # the log's own search sees only what it holds: "Search all history" asks the
            # state file (by CUIT without dashes here)
            cuit = good["buyer"]["tax_id"]
            w.show_tab(w.TAB_LOG)
            w.log.search.setText(cuit.replace("-", ""))
            qtbot.mouseClick(w.log.history_btn, Qt.MouseButton.LeftButton)
            assert w.tabs.currentWidget() is w.search
            await until(lambda: w.search.orders.rowCount() == 1, what="the order found")
            hit = w.search.orders.records[0]
            assert hit.number == good["number"] and hit.tax_id == cuit
            assert ": 1 en pedidos y " in w.search.summary.text()
            # by the buyer's name, and by an item's SKU
            # (the CUIT's answer holds it already: each wait is for its own search's answer)
            name = good["buyer"]["business_name"][:8].lower()
            w.search.search_for(name)
            await until(
                lambda: (
                    f"“{name.strip()}”" in w.search.summary.text()
                    and good["number"] in [o.number for o in w.search.orders.records]
                ),
                what=lambda: f"found by name: {w.search.summary.text()}",
            )
            sku = good["items"][0]["sku"]
            w.search.search_for(sku)
            await until(
                lambda: (
                    f"“{sku}”" in w.search.summary.text()
                    and good["number"] in [o.number for o in w.search.orders.records]
                ),
                what=lambda: f"found by SKU: {w.search.summary.text()}",
            )

            # double-click on the search result: the order's detail
            row = [o.number for o in w.search.orders.records].index(good["number"])
            double_click(qtbot, w.search.orders_table, row)
            await until(lambda: len(app.finder.details) == 1, what="the detail open")
            detail = app.finder.details[0]
            text = detail.text.toPlainText()
            reference = erp.call(lambda: erp.order_by_external(good["number"]))
            assert detail.isVisible()
            for part in (
                f"Pedido {good['number']}",
                good["buyer"]["business_name"],
                cuit,
                sku,
                "Lo que hizo Bridge",
                "cargado en el ERP, y la tienda ya lo sabe",
            ):
                assert part in text, (part, text)
            assert detail.order.erp_reference and detail.order.erp_reference in text
            assert reference is not None
            # the customer's line in the timeline names the order
            assert f"pedido {good['number']}" in text
            detail.reject()
            await until(lambda: app.finder.details == [], what="the detail closed")

            # double-click on a log line about an order
            w.log.search.setText(good["number"])
            w.show_tab(w.TAB_LOG)
            assert w.log.proxy.rowCount() >= 1
            double_click(qtbot, w.log.table, 0)
            await until(lambda: len(app.finder.details) == 1, what="detail from the log")
            assert app.finder.details[0].order.number == good["number"]
            app.finder.details[0].reject()
            await until(lambda: app.finder.details == [], what="closed")

            # double-click on an order's error: its detail, with the exact error
            w.show_tab(w.TAB_ERRORS)
            double_click(qtbot, w.errors.table, 0)
            await until(lambda: len(app.finder.details) == 1, what="detail from the errors")
            detail = app.finder.details[0]
            assert detail.order.number == bad["number"]
            assert detail.order.last_error and detail.order.last_error in (
                detail.text.toPlainText()
            )
            assert "Último error" in detail.text.toPlainText()
            assert "Monotributo" in detail.text.toPlainText()
            detail.reject()
            # "Show in log" stays a button
            w.errors.select_row(0)
            qtbot.mouseClick(w.errors.log_btn, Qt.MouseButton.LeftButton)
            assert w.tabs.currentIndex() == w.TAB_LOG
            assert w.log.search.text() == bad["number"]
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_every_product_filtered_exported_and_updated_in_place(
    qtbot, qloop, ui_profile, sims, tmp_path
):
    erp, store = sims
    paths, secrets = ui_profile
    skus = sorted(store.products)
    missing = skus[:21]  # more than the 10 the error's text names
    for sku in missing:
        del store.products[sku]

    async def body():
        app, task = await start_app(paths, secrets, language="es_AR")
        try:
            w = app.window
            view = w.products
            assert w.tabs.tabText(w.tabs.indexOf(view)) == "Productos"
            # the error names a few of the missing SKUs; a double-click on it shows them all
            await until(
                lambda: any(e.code == "sku_unknown_in_store" for e in w.errors.errors),
                what="the error of the SKUs missing in the store",
            )
            w.show_tab(w.TAB_ERRORS)
            row = [e.code for e in w.errors.errors].index("sku_unknown_in_store")
            double_click(qtbot, w.errors.table, row)
            assert w.tabs.currentWidget() is view
            assert view.which.currentData() == "missing"
            await until(lambda: view.model.rowCount() == len(skus), what="every product")
            assert sorted(p.sku for p in view.visible_products()) == missing
            assert "21 faltan en la tienda" in view.count.text()
            # the text filter on top of it
            view.search.setText(missing[-1])
            assert [p.sku for p in view.visible_products()] == [missing[-1]]
            view.search.clear()

            # exported as the filters show it, for Excel in es-AR
            export = view.findChild(QPushButton, "productsExport")
            qtbot.mouseClick(export, Qt.MouseButton.LeftButton)
            assert view._dialog is not None and view._dialog.isVisible()
            out = tmp_path / "productos.csv"
            view._dialog.fileSelected.emit(str(out))
            view._dialog.reject()
            raw = out.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
            rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
            assert rows[0][:3] == ["SKU", "Stock", "Precio"]
            assert sorted(r[0] for r in rows[1:]) == missing
            assert all(r[4] == "no" for r in rows[1:])

            # "Actualizar un producto" from the toolbar: the result in the product's row
            view.which.setCurrentIndex(0)
            target = skus[30]
            erp.call(lambda: erp.catalog.set_stock(target, 77))
            await until(lambda: w.sku_action.isVisible(), what="SKU lookup available")
            w.sku_action.trigger()
            w._sku_dialog.setTextValue(target)
            w._sku_dialog.accept()
            await until(
                lambda: view.result.isVisible() and "stock 77" in view.result.text(),
                what=lambda: view.result.text(),
            )
            assert view.result.text().startswith(f"{target} actualizado en la tienda")
            assert view.selected() is not None and view.selected().sku == target
            assert view.selected().stock == 77
            # a product the store does not have: said in place, in red, its row selected
            view.which.setCurrentIndex(view.which.findData("missing"))
            view.select_sku(missing[0])
            qtbot.mouseClick(view.update_btn, Qt.MouseButton.LeftButton)
            await until(
                lambda: "No se pudo actualizar" in view.result.text(),
                what=lambda: view.result.text(),
            )
            assert "C62828" in view.result.styleSheet()
            assert view.selected() is not None and view.selected().sku == missing[0]
            # why, in the merchant's words (the engine's English stays in the log)
            assert "la tienda no tiene un producto con este código" in view.result.text()
            assert "does not exist" not in view.result.text()

            # a catalog run while the view is shown: the view follows it
            other = skus[40]
            erp.call(lambda: erp.catalog.set_stock(other, 55))
            view.which.setCurrentIndex(0)
            w.sync_action.trigger()

            def stock_of(sku):
                row = view.model.row_of(sku)
                return None if row is None else view.model.products[row].stock

            await until(lambda: stock_of(other) == 55, what=lambda: stock_of(other))
        finally:
            await stop_app(app, task)

    run(qloop, body())


def test_a_product_s_problem_is_said_in_the_merchant_s_words(qtbot, tmp_path):
    """The products view's "why" column, its tooltip, its filter and the CSV say why a
    product failed in Spanish; the engine's English (the store's answer, the ERP's field)
    stays in the log and the error list's detail."""
    from bridge.status import ProductRecord
    from ui.i18n import set_language
    from ui.products_view import ProductsView

    set_language("es_AR")
    view = ProductsView()
    qtbot.addWidget(view)
    now = time.time()
    refused = "SKU A1: the store refused its stock and price update (HTTP 422)"
    view.set_products(
        [
            ProductRecord("A1", 3, "10.00", True, now, refused, now, "store_refused_row", "data"),
            ProductRecord("B2", None, None, True, None, "SKU B2: negative", now, "erp_row_invalid"),
            ProductRecord("C3", 1, "5.00", True, now),
        ]
    )
    model = view.model
    why = [model.data(model.index(r, 5)) for r in range(3)]
    assert why[0].startswith("La tienda rechazó la actualización de stock y precio"), why
    assert why[1].startswith("El ERP mandó este producto con datos no válidos"), why
    assert why[2] == ""
    tip = model.data(model.index(0, 5), Qt.ItemDataRole.ToolTipRole)
    assert tip == why[0] and "refused" not in tip
    view.which.setCurrentIndex(view.which.findData("failed"))
    assert sorted(p.sku for p in view.visible_products()) == ["A1", "B2"]
    view.search.setText("rechazó")
    assert [p.sku for p in view.visible_products()] == ["A1"]
    out = tmp_path / "p.csv"
    view.export_to(str(out))
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[1][0] == "A1" and rows[1][5] == why[0]


def test_products_view_with_a_large_catalog(qtbot):
    """20,000 products in the view (the demo's catalogs are thousands): loading, filtering
    and exporting them. The figures are printed (-s), not asserted."""
    from bridge.status import ProductRecord
    from ui.i18n import set_language
    from ui.products_view import ProductsView

    set_language("es_AR")
    view = ProductsView()
    qtbot.addWidget(view)
    view.resize(1366, 700)
    view.show()
    now = time.time()
    products = [
        ProductRecord(
            f"ART{i:05}!{i % 7}!M",
            i % 50,
            f"{1000 + i}.50",
            i % 97 != 0,
            now,
            "the price is not a number" if i % 501 == 0 else None,
        )
        for i in range(20000)
    ]
    figures = {}
    t0 = time.perf_counter()
    view.set_products(products)
    qtbot.wait(1)  # painted
    figures["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.which.setCurrentIndex(view.which.findData("missing"))
    figures["filter: missing in the store"] = time.perf_counter() - t0
    assert view.proxy.rowCount() == sum(1 for p in products if not p.known_in_store)
    t0 = time.perf_counter()
    view.which.setCurrentIndex(0)
    view.search.setText("ART1999")
    figures["filter: text"] = time.perf_counter() - t0
    assert view.proxy.rowCount() == 10  # ART19990 … ART19999
    view.search.clear()
    t0 = time.perf_counter()
    view.show_result(products[12345].sku, True, "ok", products[12345])
    figures["one product updated in place"] = time.perf_counter() - t0
    assert view.selected() == products[12345]
    for name, s in figures.items():
        print(f"products view, 20,000 SKUs: {name}: {s * 1000:.0f} ms")
