"""What the engine's codes mean to a merchant: what failed, why in plain words, what to do,
and the live log's lines in the UI's language. The engine's own English text stays
available as the technical detail."""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.catalog import Change, HeldRun
from bridge.orders import SIDE_DOWN_CODES
from bridge.status import AUTH_CODES, Cause, ErrorRecord, RunRecord
from ui.i18n import _, language, plural

STATE_NAMES = {
    "attention": lambda: _("Needs attention"),
    "stopped": lambda: _("Not running"),
    "retrying": lambda: _("No connection, retrying"),
    "paused": lambda: _("Paused"),
    "syncing": lambda: _("Syncing"),
    "idle": lambda: _("All up to date"),
}

PIPELINE_NAMES = {
    "orders": lambda: _("Orders"),
    "catalog": lambda: _("Stock and prices"),
    "engine": lambda: _("General"),
    "config": lambda: _("Settings"),
}

LEVEL_NAMES = {
    "debug": lambda: _("Debug"),
    "info": lambda: _("Info"),
    "warning": lambda: _("Warning"),
    "error": lambda: _("Error"),
}

_FISCAL = (
    "cuit_format",
    "cuit_prefix",
    "cuit_filler",
    "cuit_check_digit",
    "dni_format",
    "dni_filler",
    "document_missing",
    "document_format",
    "document_length",
)


def state_name(state: str) -> str:
    return STATE_NAMES.get(state, lambda: state)()


def side_name(side: str, erp_title: str = "") -> str:
    if side == "store":
        return _("The store")
    return erp_title or _("The ERP")


def cause_text(cause: Cause | None, erp_title: str = "") -> str:
    """Why Bridge is in its state, in one line ("Dragonfish rejects the token — 17
    orders waiting")."""
    if cause is None:
        return ""
    who = side_name(cause.side, erp_title)
    if cause.code in AUTH_CODES and cause.code == "secret_missing":
        what = _("{who}: a token or password is missing; enter it in Settings", who=who)
    elif cause.code in AUTH_CODES:
        what = _("{who} rejects the token; enter the new one in Settings", who=who)
    elif cause.code == "errors":
        return plural(
            cause.count,
            _("{n} item to fix: see the Errors tab"),
            _("{n} items to fix: see the Errors tab"),
        )
    elif cause.code == "paused":
        return _("Sync is paused")
    elif cause.code == "stopped":
        return _("Bridge is not running")
    elif cause.code == "transient":
        return _("A temporary problem; Bridge tries again by itself")
    elif cause.code in SIDE_DOWN_CODES or cause.code == "rate_limited":
        what = _("{who} cannot be reached; Bridge keeps trying", who=who)
    else:
        what = _("{who}: {why}", who=who, why=explain_code(cause.code, "config"))
    if cause.count:
        what += " — " + plural(cause.count, _("{n} order waiting"), _("{n} orders waiting"))
    return what


def cause_row_text(cause: str, orders: int, erp_title: str = "") -> str:
    """One error row for a root cause (bridge.status.error_cause): "Dragonfish rejects the
    token — 17 orders waiting"."""
    side, what = cause.split(":", 1)
    code = {"auth": "auth_rejected", "down": "unreachable"}.get(what, what)
    return cause_text(Cause(code, side, orders), erp_title)


def pipeline_name(p: str) -> str:
    return PIPELINE_NAMES.get(p, lambda: p)()


def level_name(level: str) -> str:
    return LEVEL_NAMES.get(level, lambda: level)()


def explain_code(code: str, kind: str) -> str:
    """Why it failed and what to do, in plain words."""
    if code in _FISCAL:
        what = {
            "cuit_check_digit": _("The buyer's CUIT has a wrong check digit (a typo?)."),
            "cuit_prefix": _("The buyer's CUIT starts with a prefix AFIP does not use."),
            "cuit_filler": _("The buyer's document is a placeholder, not a real one."),
            "dni_filler": _("The buyer's document is a placeholder, not a real one."),
            "document_missing": _("The buyer has no CUIT or DNI."),
        }.get(
            code, _("The buyer's document is neither a CUIT (11 digits) nor a DNI (7 or 8 digits).")
        )
        return (
            what
            + " "
            + _(
                "Correct it in the store; the order is sent again when the "
                "store lists it as pending."
            )
        )
    table = {
        "cuit_required": _(
            "A Responsable Inscripto or Monotributo buyer needs a CUIT, not a "
            "DNI. Correct the buyer in the store."
        ),
        "tax_condition": _(
            "The buyer's IVA condition is not one Bridge knows. Correct it in the store."
        ),
        "order_format": _(
            "The order came from the store incomplete or malformed. Check it in the store's admin."
        ),
        "order_without_id": _(
            "The store listed an order without an id. Tell VentasxMayor support."
        ),
        "conflict": _(
            "The ERP was busy with other writes every time it was tried. Bridge "
            "tries again by itself."
        ),
        "ambiguous_write": _(
            "It is not known whether the ERP received it (the answer was "
            "lost). Bridge checks the ERP before sending it again, so it is "
            "never created twice."
        ),
        "customer_unconfirmed": _(
            "The ERP did not answer when the buyer was created and "
            "does not list them yet; it may still be working on it. "
            "Bridge waits a little and looks again before creating the "
            "buyer, so the customer is never created twice."
        ),
        "order_unconfirmed": _(
            "The ERP did not answer when the order was sent and does not "
            "list it yet; it may still be working on it. Bridge waits a "
            "little and looks again before sending it, so it is never "
            "created twice."
        ),
        "auth_rejected": _("The token was rejected or has expired. Enter the new one in Settings."),
        "unreachable": _(
            "Could not connect. Check that the server is on and reachable from "
            "this PC; Bridge keeps trying."
        ),
        "timeout": _("The server took too long to answer. Bridge keeps trying."),
        "connection_lost": _("The connection dropped. Bridge keeps trying."),
        "unavailable": _("The server is failing right now. Bridge keeps trying."),
        "html_response": _(
            "An error web page came back instead of data: a proxy or web "
            "server in between is failing. Bridge keeps trying."
        ),
        "malformed_json": _("The answer was damaged or incomplete. Bridge keeps trying."),
        "bad_response": _(
            "The answer did not have the expected form. If it persists, tell support."
        ),
        "rate_limited": _("The server asked to slow down. Bridge waits and tries again."),
        "duplicate_unresolved": _(
            "The ERP says it already has this order but it cannot be "
            "found by its number. Check the ERP."
        ),
        "store_fails_on_report": _(
            "The order is in the ERP, but the store fails each time Bridge tells it so, "
            "while it answers everything else: the store still shows it as waiting for the "
            "ERP. Do not enter it in the ERP again. Bridge keeps trying; if it persists, "
            "tell VentasxMayor support."
        ),
        "erp_fails_on_order": _(
            "The ERP fails each time it receives this order, while it answers everything "
            "else: something in the order (a product, the buyer, a text) may be what it "
            "cannot take. Check the order in the store and in the ERP; Bridge keeps "
            "trying it now and then, and the other orders go on."
        ),
        "sku_unknown_in_store": _(
            "Some products exist in the ERP but not in the store. Create "
            "them in the store to publish their stock."
        ),
        "erp_row_invalid": _(
            "The ERP sent this product with invalid data; it was not "
            "updated in the store. Correct it in the ERP."
        ),
        "store_refuses_updates": _(
            "The store refused every stock and price update of the last sync, each for a "
            "reason of its own, and took none: the store is refusing updates, not these "
            "products. The detail has the store's reason; tell VentasxMayor support. "
            "Bridge tries again at each sync."
        ),
        "store_refused_row": _(
            "The store refused this product's stock and price update, and took the "
            "others: the store still shows its old stock and price. The detail has the "
            "store's reason; check the product in the store (and its figures in the ERP). "
            "Bridge offers it again at each sync."
        ),
        "catalog_held": _(
            "This sync would zero or remove many products, or change many "
            "prices a lot, at once: it looks like an ERP fault, so nothing was "
            'pushed. Check the ERP. "Push anyway…" shows what would change '
            "and pushes it if you confirm; Retry and the next run check "
            "again."
        ),
        "price_list_unknown": _(
            "The price list in Settings does not exist in the ERP. Choose its exact name."
        ),
        "calibration_blocking": _(
            "The ERP installation does not match the settings (a "
            "field, a code or a record Bridge needs is not there), so "
            "no order is sent to it until it is fixed; stock and prices "
            "go on. The detail says what to change. Retry checks again."
        ),
        "fiscal_code_unknown": _(
            "Bridge does not know the ERP's code for this buyer's IVA "
            "condition. Set it in the settings file (the connection test "
            "lists the ERP's codes); the order is sent when it changes."
        ),
        "fiscal_code_refused": _(
            "The ERP refused the IVA condition code Bridge sent. Set the "
            "ERP's own code (the connection test lists them); the order "
            "is sent when the settings change."
        ),
        "document_code_refused": _(
            "The ERP refused the document type code Bridge sent. Set "
            "the ERP's own code (the connection test lists them)."
        ),
        "customer_code_taken": _(
            "The customer code Bridge derives from the buyer's document "
            "already belongs to another customer in the ERP. Fix that "
            "customer in the ERP, or let the ERP assign codes."
        ),
        "out_of_stock": _(
            "The ERP refused the order for lack of stock of the products named "
            "in the detail. Adjust the order or the stock, then retry."
        ),
        "platform_unknown": _(
            "The e-commerce platform code in Settings does not exist in the "
            "ERP. Set the code of the platform configured there."
        ),
        "motivo_refused": _(
            "The ERP refused the Motivo in Settings. Set one that exists in the ERP."
        ),
        "secret_missing": _("A token or password is missing. Enter it in Settings."),
        "config_field": _("A setting is not valid. Correct it in Settings."),
        "sku_format": _("The product code does not have the ARTICLE!COLOR!SIZE form."),
        "listed_twice": _(
            "The store lists this order twice with different contents, so it "
            "is not sent until the store lists it once. The detail says what "
            "differs. Check the order in the store."
        ),
        "changed_after_send": _(
            "The order was changed in the store after it was sent to "
            "the ERP. The ERP keeps what was sent; the detail says what "
            "changed. Change it in the ERP by hand if needed, then Retry "
            "(or Discard) to tell the store it was sent."
        ),
        "number_taken": _(
            "Another store order has the same number and came first; the ERP "
            "knows orders by their number, so this one is not sent. Check both "
            "in the store."
        ),
        "run_timeout": _(
            "A sync took far too long (a server answering very slowly?) and was "
            "stopped; nothing is lost, it starts again at its next interval."
        ),
        "internal_error": _(
            "Something unexpected went wrong with this order. Bridge tries "
            "again by itself; if it keeps failing, send the diagnostics to "
            "support."
        ),
        "state_rebuilt": _(
            "Bridge's state file was damaged: it was moved aside (the detail "
            "says where) and a new one was started. The orders the store "
            "still lists as pending were taken in again, and each is looked "
            "up in the ERP before it is sent, so none is created twice. "
            "Nothing to do; discard this entry once read."
        ),
    }
    if code in table:
        return table[code]
    if kind == "transient":
        return _("A temporary problem. Bridge tries again by itself.")
    if kind == "auth":
        return _("The credentials were rejected. Check them in Settings.")
    if kind == "config":
        return _("A setting is not valid. Correct it in Settings.")
    return _(
        "The ERP or the store refused the data. See the server's message; correct the "
        "data and retry."
    )


def explain_error(err: ErrorRecord) -> str:
    return explain_code(err.code, err.kind)


def error_subject(err: ErrorRecord) -> str:
    subject = err.subject
    if subject.order_id is not None:
        return _("Order {number}", number=err.number or subject.order_id)
    if subject.sku_code is not None:
        return _("Product {sku}", sku=subject.sku_code)
    return {
        "store": _("Store connection"),
        "erp": _("ERP connection"),
        "store:unknown-skus": _("Products missing in the store"),
        "catalog:held": _("Stock and price sync on hold"),
        "store:order-without-id": _("Order without id"),
        "erp:calibration": _("The ERP installation does not match the settings"),
        "run:orders": _("Orders sync"),
        "run:catalog": _("Stock and price sync"),
        "state:rebuilt": _("Bridge's state file"),
    }.get(str(subject), str(subject))


def error_search_key(err: ErrorRecord) -> str:
    """What to look for in the log to see this error's story."""
    subject = err.subject
    if subject.order_id is not None:
        return err.number or subject.order_id
    return subject.sku_code or ""


def event_text(code: str, data: dict[str, Any], fallback: str) -> str:
    """The log line in the UI's language; the engine's text where no template fits."""
    d = {k: v for k, v in data.items() if v is not None}
    templates = {
        "order_received": (("number",), lambda: _("Order {number} received from the store")),
        "order_sent": (
            ("number", "erp_reference"),
            lambda: _("Order {number} created in the ERP as {erp_reference}"),
        ),
        "order_done": (
            ("number", "erp_reference"),
            lambda: _("Order {number} is in the ERP ({erp_reference}); the store was told"),
        ),
        "order_reconciled": (
            ("number", "erp_reference"),
            lambda: _("Order {number} was already in the ERP as {erp_reference}; not sent again"),
        ),
        "order_updated": (
            ("number",),
            lambda: _(
                "Order {number} was changed in the store before it was "
                "sent; the new version will be sent"
            ),
        ),
        "order_requeued": (
            ("number",),
            lambda: _("Order {number} is pending again in the store; it will be sent again"),
        ),
        "customer_created": (
            ("customer", "name", "document", "number"),
            lambda: _(
                "Customer {customer} created in the ERP for {name} ({document}), order {number}"
            ),
        ),
        "customer_found": (
            ("customer", "name", "document", "number"),
            lambda: _(
                "{name} ({document}) is already customer {customer} in the ERP (order {number})"
            ),
        ),
        "order_failed": (
            ("number", "error_code"),
            lambda: _("Order {number} could not be sent: {why}"),
        ),
        "report_failed": (
            ("number",),
            lambda: _(
                "Order {number} is in the ERP, but telling the store failed; it will be retried"
            ),
        ),
        "catalog_run": (
            ("seen", "pushed"),
            lambda: _("Stock and prices: {seen} variants read, {pushed} updated in the store"),
        ),
        "sku_unknown_in_store": (
            ("count",),
            lambda: _("{count} products from the ERP are not in the store"),
        ),
        "engine_started": ((), lambda: _("Bridge started")),
        "engine_stopped": ((), lambda: _("Bridge stopped")),
        "paused": ((), lambda: _("Sync paused")),
        "resumed": ((), lambda: _("Sync resumed")),
        "clock_jump": ((), lambda: _("The PC was asleep; syncing now")),
        "clock_set_back": (
            (),
            lambda: _(
                "The PC's clock was set back; waiting times were adjusted and syncing goes on"
            ),
        ),
        "run_timeout": (
            (),
            lambda: _(
                "A sync took far too long and was stopped; it starts again at its next interval"
            ),
        ),
        "run_overrun": ((), lambda: _("A sync is taking longer than usual (a slow server?)")),
        "config_applied": ((), lambda: _("New settings applied")),
        "config_invalid": (
            (),
            lambda: _("The edited settings file is not valid; the previous settings stay"),
        ),
        "store_list_failed": ((), lambda: _("Could not read the store's pending orders")),
        "catalog_failed": ((), lambda: _("The stock and price sync stopped")),
        "catalog_held": (
            (),
            lambda: _("Stock and price sync held: it looks like an ERP fault; nothing was pushed"),
        ),
        "catalog_approved": ((), lambda: _("Held sync approved; reading the ERP again to push it")),
        "catalog_approved_push": ((), lambda: _("Pushing the stock and prices you approved")),
        "catalog_vanished": (
            (),
            lambda: _(
                "Some products are no longer in the ERP; their stock in the store was set to 0"
            ),
        ),
        "erp_row_invalid": (
            ("sku",),
            lambda: _("The ERP sent product {sku} with invalid data; it was not updated"),
        ),
        "erp_rows_invalid": (
            (),
            lambda: _("More products have invalid data in the ERP; each one is in Errors"),
        ),
        "store_refused_row": (
            ("sku",),
            lambda: _("The store refused the update of product {sku}; the others went"),
        ),
        "store_refused_rows": (
            (),
            lambda: _("The store refused more products; each one is in Errors"),
        ),
        "sku_repeated": (
            ("sku",),
            lambda: _("The ERP listed product {sku} twice; the first one was used"),
        ),
        "skus_repeated": ((), lambda: _("The ERP listed more products twice")),
        "sku_synced": (("sku",), lambda: _("Product {sku} updated in the store")),
        "sku_sync_failed": (("sku",), lambda: _("Product {sku} could not be updated")),
        "order_without_id": ((), lambda: _("The store listed an order without an id")),
        "alert_sent": ((), lambda: _("Alert e-mail sent")),
        "alert_failed": ((), lambda: _("The alert e-mail could not be sent")),
        "already_running": ((), lambda: _("Bridge was opened again; this one keeps running")),
        "stop_requested": ((), lambda: _("Asked to close; closing")),
        "sync_requested": ((), lambda: _("Asked to sync; syncing now")),
        "config_refused": ((), lambda: _("The new settings were not applied")),
        "retry": ((), lambda: _("Trying again")),
        "discarded": ((), lambda: _("Discarded; it will not be sent")),
        "run_failed": ((), lambda: _("A sync failed; see Errors")),
        "runs_interrupted": (
            (),
            lambda: _("Closing cut a sync short; it runs again at the next start"),
        ),
        "state_rebuilt": (
            (),
            lambda: _("Bridge's state file was damaged and a new one was started; see Errors"),
        ),
        "state_unwritable": ((), lambda: _("Bridge cannot write its state file")),
        "tls_unverified": (
            (),
            lambda: _("The certificates of one side are not verified (see Settings)"),
        ),
        "calibration_failed": (
            (),
            lambda: _("Could not check the ERP installation against the settings"),
        ),
        "calibration_blocking": (
            (),
            lambda: _(
                "Orders are not sent to the ERP: its installation does not match the "
                "settings (see Errors)"
            ),
        ),
        "calibration_passed": (
            (),
            lambda: _("The ERP installation matches the settings: orders are sent again"),
        ),
        "calibration_ok": (
            ("warnings",),
            lambda: _("ERP installation checked: {warnings} points to review"),
        ),
        "calibration_warning": (
            ("subject",),
            lambda: _("ERP installation: review {subject} in Settings"),
        ),
    }
    if code == "cause_cleared" and {"side", "errors", "orders"} <= d.keys():
        return cause_cleared_text(str(d["side"]), int(d["errors"]), int(d["orders"]))
    entry = templates.get(code)
    if entry is None or any(k not in d for k in entry[0]):
        return fallback
    if code == "order_failed":
        d["why"] = explain_code(str(d.get("error_code")), str(d.get("kind") or ""))
    try:
        return entry[1]().format(**d)
    except (KeyError, IndexError, ValueError):
        return fallback


def cause_cleared_text(side: str, errors: int, orders: int) -> str:
    """A side answers again: the errors it had caused cleared, its orders sent now."""
    cleared = plural(
        errors,
        _("{n} error it had caused was cleared"),
        _("{n} errors it had caused were cleared"),
    )
    if orders:
        cleared += "; " + plural(orders, _("{n} order is sent now"), _("{n} orders are sent now"))
    return _("{who} answers again: {cleared}", who=side_name(side), cleared=cleared)


CHECK_TEXTS = {
    "field_missing": lambda: _(
        "this installation's {entity} has no field '{field}', which Bridge sends"
    ),
    "field_ignored": lambda: _(
        "this installation's {entity} has no field '{field}': what "
        "Bridge sends there will be ignored"
    ),
    "entity_ok": lambda: _("present, with the {fields} fields Bridge uses"),
    "token_accepted": lambda: _("accepted"),
    "entity_missing": lambda: _("this installation does not have {entity}"),
    "entity_undescribed": lambda: _(
        "this installation lists {entity} but does not describe its fields"
    ),
    "swagger_ok": lambda: _("read: the installation describes itself"),
    "swagger_missing": lambda: _(
        "this installation does not describe itself "
        "(swagger.json); checked against its records only"
    ),
    "swagger_unreadable": lambda: _(
        "could not read the installation's description "
        "(swagger.json); checked against its records only"
    ),
    "mode_ok": lambda: _("orders go as '{value}'"),
    "mode_unsupported": lambda: _(
        "this installation has no e-commerce operations "
        "(Operacionecommerce): set 'Orders as' to 'pedido'"
    ),
    "mode_alternative": lambda: _(
        "orders go as Pedidos; this installation also has "
        "e-commerce operations ('operacion'), where Dragonfish "
        "itself refuses a repeated order"
    ),
    "price_list_ok": lambda: _("'{value}' is list {list_code}"),
    "price_list_unknown": lambda: _(
        "there is no price list named '{value}' in the ERP; its lists: {known}"
    ),
    "price_list_ambiguous": lambda: _("several price lists are named '{value}' in the ERP"),
    "record_ok": lambda: _("{what} '{value}' exists"),
    "record_unverifiable": lambda: _(
        "{what} '{value}' cannot be checked: the installation does not list them"
    ),
    "record_is_description": lambda: _(
        "'{value}' is the name of {what} {proposed}: enter its code, {proposed}"
    ),
    "record_unknown": lambda: _("the ERP has no {what} '{value}'; it has: {known}"),
    "template_ok": lambda: _("customer '{value}' exists"),
    "template_unknown": lambda: _("the ERP has no customer with code '{value}'"),
    "table_unverifiable": lambda: _(
        "the installation does not list its {what} codes: the codes set cannot be checked"
    ),
    "code_ok": lambda: _("{value} = {name}"),
    "code_by_name": lambda: _("not set; the installation's {value} ({name}) will be used"),
    "code_unknown": lambda: _("code {value} does not exist in this installation"),
    "code_means_other": lambda: _(
        "code {value} is '{name}' in this installation; {label} is {proposed}"
    ),
    "code_unconfirmed": lambda: _(
        "code {value} is '{name}' in this installation; check that it is right"
    ),
    "code_missing": lambda: _("not set and not found in the installation's table"),
    "token_expires": lambda: _("valid, expires in {days} days"),
    "token_expired": lambda: _("expired: ask ZooLogic for a new one"),
    "token_not_jwt": lambda: _("this is not the token Dragonfish issues (a JWT)"),
    "token_no_expiry": lambda: _("the token does not say when it expires"),
    # a connection test that could not get through (the connectors' error codes)
    "unreachable": lambda: _(
        "could not connect: check the address and that the server is on and reachable from this PC"
    ),
    "timeout": lambda: _("the server did not answer in time"),
    "connection_lost": lambda: _("the connection dropped; try again"),
    "unavailable": lambda: _("the server answered with an error; try again in a while"),
    "html_response": lambda: _(
        "an error web page came back instead of data (a proxy or web server in between?)"
    ),
    "malformed_json": lambda: _("the answer was damaged or incomplete"),
    "bad_encoding": lambda: _("the answer was damaged or incomplete"),
    "bad_response": lambda: _("the answer did not have the expected form"),
    "auth_rejected": lambda: _("rejected: check the token, the user or the password"),
    "rate_limited": lambda: _("the server asked to slow down; try again in a minute"),
    "redirected": lambda: _("the server sent Bridge to another address: check the address"),
    "tls_pin_mismatch": lambda: _(
        "the server presents a certificate other than the one set: Bridge sent it nothing"
    ),
    "tls_unreachable": lambda: _("could not connect to get the certificate"),
    "tls_no_cert": lambda: _("the server presented no certificate"),
    "tls_ca_file": lambda: _("the private CA file cannot be used"),
    "folder_missing": lambda: _("the folder does not exist or cannot be read"),
}


def check_name(name: str) -> str:
    """A connection test's subject: settings by the names the settings window gives them,
    the ERP's own entities and fields as the ERP names them."""
    labels = {
        "erp.lista": lambda: _("Price list"),
        "erp.ecommerce": lambda: _("E-commerce platform"),
        "erp.motivo": lambda: _("Motivo"),
        "erp.modo_pedidos": lambda: _("Orders as"),
        "erp.cliente_plantilla": lambda: _("Template customer"),
    }
    if name in labels:
        return labels[name]()
    for prefix, label in (
        ("erp.situacion_fiscal.", lambda: _("IVA condition")),
        ("erp.tipo_documento.", lambda: _("Document type")),
    ):
        if name.startswith(prefix):
            return f"{label()} ({name.removeprefix(prefix).replace('_', ' ')})"
    return _(name)


def check_detail(code: str, params: Iterable[tuple[str, str]], fallback: str) -> str:
    """A connection test's line in the UI's language (the connector's English where no
    template fits), with the setting to change when there is one."""
    d = dict(params)
    setting = d.get("setting", "")
    what = {
        "e-commerce platform": lambda: _("the e-commerce platform"),
        "Motivo": lambda: _("the Motivo"),
    }.get(d.get("what", ""))
    if what is not None:
        d["what"] = what()
    template = CHECK_TEXTS.get(code)
    if template is None and code:
        # an error code without a connection-test text: why it fails, in plain words
        return explain_code(code, "")
    try:
        text = template().format(**d) if template else fallback
    except (KeyError, IndexError, ValueError):
        text = fallback
    if (
        setting
        and template
        and code
        not in (
            "entity_ok",
            "code_ok",
            "record_ok",
            "price_list_ok",
            "template_ok",
            "mode_ok",
            "code_by_name",
        )
    ):
        text += " " + _("(setting: {setting})", setting=setting)
    return text


def ago(ts: float | None, now: float | None = None) -> str:
    """How long ago, as people say it: "just now", seconds, minutes, then the date."""
    if not ts:
        return _("never")
    secs = max(0.0, (time.time() if now is None else now) - ts)
    if secs < 10:
        return _("just now")
    if secs < 90:
        return _("{n} s ago", n=int(secs))
    if secs < 5400:
        return _("{n} min ago", n=round(secs / 60))
    return time.strftime("%d/%m %H:%M", time.localtime(ts))


def due_in(ts: float, now: float | None = None) -> str:
    """When something comes, as people say it: "now", seconds under a minute and a half,
    minutes under an hour and a half, then the time of day."""
    secs = ts - (time.time() if now is None else now)
    if secs < 1:
        return _("now")
    if secs < 90:
        return _("in {n} s", n=int(secs))
    if secs < 5400:
        return _("in {n} min", n=round(secs / 60))
    return _("at {time}", time=time.strftime("%H:%M", time.localtime(ts)))


def keyring_text(secure: bool, detail: str) -> str:
    """Where the secrets are kept, in plain words (the backend's own detail is English)."""
    if secure:
        return _("the system's keyring")
    if "unavailable" in detail or "no OS keyring" in detail:
        return _("this PC has none; secrets are kept only while Bridge is open")
    return _("this PC's keyring is not secure; secrets are kept only while Bridge is open")


def run_summary(run: RunRecord) -> str:
    """A sync run in one line, from its counts (its record's message is the engine's)."""
    took = max(0.0, (run.finished_at or run.started_at) - run.started_at)
    if run.pipeline == "orders":
        text = _(
            "{ok} orders passed to the ERP, {failed} with problems",
            ok=run.items_ok,
            failed=run.items_failed,
        )
    else:
        text = _(
            "{seen} products read, {ok} updated in the store, {failed} with problems",
            seen=run.items_seen,
            ok=run.items_ok,
            failed=run.items_failed,
        )
    seconds = f"{took:.1f}" if language() == "en" else f"{took:.1f}".replace(".", ",")
    return text + " " + _("(took {s} s)", s=seconds)


def clock(ts: float | None) -> str:
    if not ts:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def money(amount: str) -> str:
    """An amount as the store sent it, written the Argentine way ($ 1.234,50); as it came
    when it is not a number."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError):
        return amount
    text = f"{value:,.2f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"$ {text}"


def held_text(held: HeldRun) -> str:
    """What a held catalog run would do, for the merchant: why, and examples."""
    lines = [
        _(
            "The sync of {when} was held because it would change {changes} of your "
            "{known} products at once:",
            when=time.strftime("%d/%m %H:%M", time.localtime(held.at)),
            changes=held.changes,
            known=held.known,
        )
    ]
    if held.zeroed:
        lines.append(
            "• "
            + _(
                "{n} would go to stock 0 ({vanished} are no longer in the ERP)",
                n=held.zeroed,
                vanished=held.vanished,
            )
        )
    if held.price_jumps:
        lines.append(
            "• "
            + plural(
                held.price_jumps,
                _("{n} price would change a lot or fall to 0.00"),
                _("{n} prices would change a lot or fall to 0.00"),
            )
        )
    if held.examples:
        lines.append("")
        lines.append(_("For example:"))
        lines += ["   " + change_text(c) for c in held.examples]
    return "\n".join(lines)


def change_text(change: Change) -> str:
    """One example of what a held catalog run would change."""
    parts = []
    if change.vanished:
        parts.append(_("no longer in the ERP: stock {before} → 0", before=change.stock_before))
    elif change.stock_after is not None and change.stock_after != change.stock_before:
        parts.append(
            _(
                "stock {before} → {after}",
                before="?" if change.stock_before is None else change.stock_before,
                after=change.stock_after,
            )
        )
    if change.price_before and (change.price_after or None) != change.price_before:
        parts.append(
            _(
                "price {before} → {after}",
                before=money(change.price_before),
                after=money(change.price_after)
                if change.price_after
                else _("not sent (0.00 or none)"),
            )
        )
    return f"{change.sku}: " + ", ".join(parts)
