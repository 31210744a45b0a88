"""One store order in detail: the buyer (name, CUIT/DNI, IVA condition), the items, the
total, the ERP's reference, where it stands, the exact error of its last failure and the
timeline of everything Bridge did with it (every attempt, with its time). Opened from the
log, the error list and the search (double-click); read from `Engine.order`."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from bridge.status import OrderRecord
from ui.i18n import _
from ui.texts import event_text, explain_code, money

ORDER_STATES: dict[str, Callable[[], str]] = {
    "queued": lambda: _("waiting to be sent to the ERP"),
    "sending": lambda: _("being sent to the ERP"),
    "sent_to_erp": lambda: _("in the ERP; the store is being told"),
    "done": lambda: _("in the ERP, and the store was told"),
    "failed": lambda: _("not sent: it failed"),
    "discarded": lambda: _("discarded (it will not be sent)"),
}

IVA_CONDITIONS: dict[str, Callable[[], str]] = {
    "responsable_inscripto": lambda: _("Registered VAT payer (Responsable Inscripto)"),
    "monotributo": lambda: _("Monotributo"),
    "exento": lambda: _("VAT exempt"),
    "consumidor_final": lambda: _("Final consumer"),
}


def order_state_name(state: str) -> str:
    return ORDER_STATES.get(state, lambda: state)()


def when(ts: float | None) -> str:
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(ts)) if ts else "—"


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def order_html(order: OrderRecord) -> str:
    """The order's detail as the dialog shows it (rich text)."""
    condition = IVA_CONDITIONS.get(order.tax_condition, lambda: order.tax_condition)()
    parts = [
        f"<h3>{_esc(_('Order {number}', number=order.number))}</h3>",
        f"<p><b>{_esc(_('State'))}:</b> {_esc(order_state_name(order.state))}",
    ]
    if order.erp_reference:
        parts.append(
            f"<br><b>{_esc(_('ERP reference'))}:</b> {_esc(order.erp_reference)}",
        )
    parts.append(f"<br><b>{_esc(_('Received'))}:</b> {_esc(when(order.created_at))}")
    if order.attempts:
        parts.append(f"<br><b>{_esc(_('Attempts'))}:</b> {order.attempts}")
    if order.next_attempt_at and order.state == "failed":
        parts.append(f"<br><b>{_esc(_('Next try'))}:</b> {_esc(when(order.next_attempt_at))}")
    if order.discard_reason:
        parts.append(f"<br><b>{_esc(_('Why it was discarded'))}:</b> {_esc(order.discard_reason)}")
    parts.append("</p>")
    parts.append(
        f"<h4>{_esc(_('Buyer'))}</h4><p>{_esc(order.buyer_name or '—')}<br>"
        f"<b>{_esc(_('CUIT/DNI'))}:</b> {_esc(order.tax_id or '—')}<br>"
        f"<b>{_esc(_('IVA condition'))}:</b> {_esc(condition or '—')}</p>"
    )
    rows = "".join(
        f"<tr><td>{_esc(i.sku)}</td><td>{_esc(i.name)}</td><td align='right'>"
        f"{_esc(i.quantity)}</td><td align='right'>{_esc(money(i.unit_price))}</td></tr>"
        for i in order.items
    )
    parts.append(
        f"<h4>{_esc(_('Items'))}</h4><table cellspacing='0' cellpadding='3' border='1'>"
        f"<tr><th>{_esc(_('SKU'))}</th><th>{_esc(_('Product'))}</th>"
        f"<th>{_esc(_('Quantity'))}</th><th>{_esc(_('Price'))}</th></tr>{rows}</table>"
    )
    if order.total:
        parts.append(f"<p><b>{_esc(_('Total'))}:</b> {_esc(money(order.total))}</p>")
    if order.last_error and order.state in ("failed", "queued", "sending", "discarded"):
        # in plain words first; the engine's own (English, technical) words last, as the
        # detail for support, as the errors tab shows them
        plain = explain_code(order.error_code, order.failure_kind or "") if order.error_code else ""
        parts.append(
            f"<h4>{_esc(_('Last error'))}</h4><p>"
            + (f"{_esc(plain)}<br>" if plain else "")
            + (
                f"<b>{_esc(_('Server message'))}:</b> <tt>{_esc(order.server_message)}</tt><br>"
                if order.server_message
                else ""
            )
            + f"<b>{_esc(_('Technical detail (for support)'))}:</b> "
            + f"<tt>{_esc(order.last_error)}</tt></p>"
        )
    lines = "".join(
        f"<tr><td>{_esc(when(e.ts))}</td><td>"
        + (
            f"<span style='color:#C62828'>{_esc(event_text(e.code, dict(e.data), e.message))}</span>"
            if e.level == "error"
            else _esc(event_text(e.code, dict(e.data), e.message))
        )
        + "</td></tr>"
        for e in order.timeline
    )
    parts.append(
        f"<h4>{_esc(_('What Bridge did'))}</h4>"
        + (
            f"<table cellspacing='0' cellpadding='2'>{lines}</table>"
            if lines
            else f"<p>{_esc(_('Nothing recorded (older events are no longer kept).'))}</p>"
        )
    )
    return "".join(parts)


class OrderDetail(QDialog):
    """The detail of one order (opened with `open()`, never `exec()`)."""

    def __init__(self, order: OrderRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("orderDetail")
        self.order = order
        self.setWindowTitle(_("Order {number}", number=order.number))
        self.resize(640, 560)
        self.text = QTextBrowser()
        self.text.setObjectName("orderDetailText")
        self.text.setHtml(order_html(order))
        buttons = QDialogButtonBox()
        close = QPushButton(_("Close"))
        close.setObjectName("orderDetailClose")
        close.clicked.connect(self.reject)
        buttons.addButton(close, QDialogButtonBox.ButtonRole.RejectRole)
        copy = QPushButton(_("Copy"))
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
