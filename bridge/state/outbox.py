"""The order outbox: each store order's way to the ERP (see OrderState), and the units its
items hold back from the store's stock until the ERP has it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import msgspec

from bridge.numbers import NumberError, quantity
from bridge.redact import redact, redact_optional
from bridge.state.db import Repository, like_pattern, text_like


def _field(path: str) -> str:
    """A field of the stored order in SQL (NULL where the stored copy cannot be read: a
    damaged one must not make a search fail)."""
    return f"(CASE WHEN json_valid(payload) THEN json_extract(payload, '{path}') END)"


# an order's summary, as a search lists it
SUMMARY = (
    "store_order_id, number, state, created_at, updated_at, erp_reference, last_error, "
    f"{_field('$.buyer.business_name')} AS buyer, {_field('$.buyer.tax_id')} AS tax_id, "
    f"CAST({_field('$.total')} AS TEXT) AS total"
)


@dataclass(frozen=True)
class DiscardUndo:
    """How an order's row was before the merchant discarded it (Outbox.undo_discard), and
    when the discard wrote it."""

    oid: str
    row: dict[str, Any]
    items: tuple[tuple[str, int], ...]
    discarded_at: float


class OrderState(StrEnum):
    QUEUED = "queued"  # waiting to be sent to the ERP
    SENDING = "sending"  # a send began; after a crash it is reconciled before any resend
    SENT_TO_ERP = "sent_to_erp"  # the ERP has it; the store has not been told yet
    DONE = "done"  # the ERP has it and the store was told
    FAILED = "failed"  # see failure_kind: transient (retried by itself) or data/auth/config
    DISCARDED = "discarded"  # the merchant decided it is not to be sent


# Orders whose units are sold in the store but not yet taken from the ERP's stock.
RESERVING_STATES = (OrderState.QUEUED, OrderState.SENDING, OrderState.FAILED)


# a store order as the state file keeps it: decimals written as the numbers they are (a
# quantity of 5.0 must come back as a number, not as the text "5.0")
_PAYLOAD_ENCODER = msgspec.json.Encoder(decimal_format="number", enc_hook=str)


def dump_payload(payload: Mapping[str, Any]) -> str:
    try:
        return _PAYLOAD_ENCODER.encode(payload).decode()
    except (ValueError, TypeError, OverflowError):  # a non-finite decimal, say
        return json.dumps(payload, default=str)


def load_payload(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def order_number(payload: Mapping[str, Any], oid: str) -> str:
    """The store order's number as Bridge keeps and compares it (as the connectors send it:
    without surrounding spaces)."""
    return str(payload.get("number") or "").strip() or oid


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _reserved_items(payload: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (SKU, units) an order holds back from the store's stock. A line whose quantity
    is not a whole number within bridge.numbers' limits (10**30, 1e400, NaN, true) holds
    nothing: the order fails as a data error of its own when it is parsed."""
    out = []
    items = payload.get("items")
    for it in items if isinstance(items, list) else []:
        if isinstance(it, Mapping) and isinstance(it.get("sku"), str):
            qty = it.get("quantity")
            text = qty.strip() if isinstance(qty, str) else ""
            if text.isascii() and text.isdigit() and len(text) <= 12:
                qty = int(text)  # a number as text ("3") holds stock as it always did
            try:
                out.append((it["sku"], quantity(qty)))
            except NumberError:
                continue
    return out


# what a failure does to an order's down_streak: grows it (its write failed as if the side
# were down), keeps it (nothing said of the order: a refused connection), or resets it
Streak = Literal["grow", "keep", "reset"]
_STREAK_SQL = {
    "grow": "down_streak=down_streak+1, ",
    "keep": "",
    "reset": "down_streak=0, ",
}


@dataclass
class OutboxRow:
    store_order_id: str
    number: str
    state: OrderState
    payload: dict[str, Any]
    erp_reference: str | None
    attempts: int
    failure_kind: str | None
    last_error: str | None
    reported_failed: bool
    next_attempt_at: float | None
    # taken in while the state file was being rebuilt: the ERP may have it already
    reconcile: bool = False
    # a version the store listed after a send that did, or may have, reached the ERP, not
    # accepted by the merchant yet (the store is not told "sent" meanwhile)
    late_payload: dict[str, Any] | None = None
    # the stored copy of the order could not be read (a damaged state file)
    damaged: bool = False
    # rounds in a row in which a side answered this order's lookups (the store: the run's
    # listing) and then failed its write (the send; the report): past POISON_STREAK, the
    # order's own problem (bridge.orders)
    down_streak: int = 0

    @property
    def late(self) -> bool:
        return self.late_payload is not None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> OutboxRow:
        damaged = False
        try:
            payload = load_payload(r["payload"])
            late = (
                load_payload(r["late_payload"]) if r["late_payload"] and not r["late_ack"] else None
            )
        except (ValueError, TypeError):
            payload, late, damaged = {"id": r["store_order_id"], "number": r["number"]}, None, True
        if not isinstance(payload, dict):
            payload, damaged = {"id": r["store_order_id"], "number": r["number"]}, True
        return cls(
            r["store_order_id"],
            r["number"],
            OrderState(r["state"]),
            payload,
            r["erp_reference"],
            r["attempts"],
            r["failure_kind"],
            r["last_error"],
            bool(r["reported_failed"]),
            r["next_attempt_at"],
            bool(r["reconcile"]),
            late if isinstance(late, dict) else None,
            damaged,
            int(r["down_streak"] or 0),
        )


class Outbox(Repository):
    """The `outbox` and `outbox_items` tables."""

    def ingest(self, payload: Mapping[str, Any], now: float | None = None) -> tuple[str, OutboxRow]:
        """Record an order the store lists as pending. Returns (action, row):
        'new' (queued now); 'requeued' (came back, changed or after being reported failed,
        after a failure that sent nothing, or discarded and changed); 'updated' (changed
        before any send: the new content and its items are taken); 'rereport' (done: the
        store missed our report); 'changed_after_send' (changed after it was, or may have
        been, sent: what was sent is frozen, the new version is kept aside for the
        merchant); or 'known' (nothing to do)."""
        now = now or time.time()
        oid = str(payload["id"])
        number = order_number(payload, oid)
        h = payload_hash(payload)
        text = dump_payload(payload)
        with self.db.tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            action = "known"
            if row is None:
                db.execute(
                    "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                    "confirmed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        oid,
                        number,
                        OrderState.QUEUED,
                        text,
                        h,
                        str(payload.get("confirmed_at") or ""),
                        now,
                        now,
                    ),
                )
                action = "new"
            else:
                state = OrderState(row["state"])
                changed = row["payload_hash"] != h
                # a send may have reached the ERP: what it has is the stored payload
                maybe_sent = (
                    state in (OrderState.SENDING, OrderState.SENT_TO_ERP, OrderState.DONE)
                    or row["attempts"] > 0
                )
                refused = state == OrderState.FAILED and row["failure_kind"] != "transient"
                # an order held because the store listed it twice is taken again as soon
                # as it is listed once
                if (
                    refused
                    and (changed or row["reported_failed"] or row["error_code"] == "listed_twice")
                ) or (state == OrderState.DISCARDED and changed):
                    db.execute(
                        "UPDATE outbox SET state='queued', payload=?, payload_hash=?, number=?, "
                        "failure_kind=NULL, error_code=NULL, last_error=NULL, "
                        "server_message=NULL, reported_failed=0, next_attempt_at=NULL, "
                        "discard_reason=NULL, late_hash=NULL, late_payload=NULL, late_ack=0, "
                        "updated_at=? WHERE store_order_id=?",
                        (text, h, number, now, oid),
                    )
                    action = "requeued"
                elif not changed:
                    if row["late_hash"] is not None:
                        # the store is back to what was sent: its change is moot
                        db.execute(
                            "UPDATE outbox SET late_hash=NULL, late_payload=NULL, "
                            "late_ack=0, next_attempt_at=NULL, updated_at=? WHERE "
                            "store_order_id=?",
                            (now, oid),
                        )
                    action = "rereport" if state == OrderState.DONE else "known"
                elif maybe_sent:
                    if row["late_hash"] != h:
                        db.execute(
                            "UPDATE outbox SET late_hash=?, late_payload=?, late_ack=0, "
                            "updated_at=? WHERE store_order_id=?",
                            (h, text, now, oid),
                        )
                        action = "changed_after_send"
                    elif row["late_ack"] and state == OrderState.DONE:
                        action = "rereport"  # the merchant accepted what the ERP has
                elif state in (OrderState.QUEUED, OrderState.FAILED):
                    db.execute(
                        "UPDATE outbox SET payload=?, payload_hash=?, number=?, "
                        "updated_at=? WHERE store_order_id=?",
                        (text, h, number, now, oid),
                    )
                    action = "updated"
            if action in ("new", "requeued", "updated"):
                # the units held back from sale follow the items that will be sent
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(payload)],
                )
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return action, OutboxRow.from_row(row)

    def listed_twice(
        self, copies: list[Mapping[str, Any]], message: str, now: float | None = None
    ) -> tuple[str, OutboxRow]:
        """The store listed one order id with different contents. An order not sent yet is
        held (a data failure) until the store lists it once; meanwhile the units of every
        copy are held back from sale (the most of each SKU). One that was, or may have
        been, sent is left as it is. Returns ('held' | 'frozen', row)."""
        now = now or time.time()
        first = copies[0]
        oid = str(first["id"])
        most: dict[str, int] = {}
        for copy in copies:
            for sku, q in _reserved_items(copy):
                most[sku] = max(most.get(sku, 0), q)
        with self.db.tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                    "confirmed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        oid,
                        order_number(first, oid),
                        OrderState.QUEUED,
                        dump_payload(first),
                        payload_hash(first),
                        str(first.get("confirmed_at") or ""),
                        now,
                        now,
                    ),
                )
                row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            state = OrderState(row["state"])
            action = "frozen"
            if state in (OrderState.QUEUED, OrderState.FAILED) and row["attempts"] == 0:
                # error_code listed_twice: the next listing of one copy is taken (ingest)
                db.execute(
                    "UPDATE outbox SET state='failed', "
                    "failure_kind='data', error_code='listed_twice', last_error=?, "
                    "next_attempt_at=NULL, updated_at=? WHERE store_order_id=?",
                    (message, now, oid),
                )
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in most.items()],
                )
                action = "held"
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return action, OutboxRow.from_row(row)

    def accept_late(self, oid: str) -> bool:
        """The merchant accepts that the ERP keeps what was sent of an order the store
        changed afterwards: the store is told it was sent (now)."""
        with self.db.tx() as db:
            return bool(
                db.execute(
                    "UPDATE outbox SET late_ack=1, next_attempt_at=NULL, "
                    "updated_at=? WHERE store_order_id=? AND late_hash IS NOT "
                    "NULL",
                    (time.time(), oid),
                ).rowcount
            )

    def adopt_late(self, oid: str) -> OutboxRow:
        """The ERP turned out not to have the order: the store's later version is the one
        to send (with its items held back from sale)."""
        with self.db.tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            if row["late_payload"] and not row["late_ack"]:
                late = load_payload(row["late_payload"])
                db.execute(
                    "UPDATE outbox SET payload=late_payload, payload_hash=late_hash, "
                    "number=?, late_hash=NULL, late_payload=NULL, late_ack=0, "
                    "updated_at=? WHERE store_order_id=?",
                    (order_number(late, oid), time.time(), oid),
                )
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(late)],
                )
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return OutboxRow.from_row(row)

    def number_taken(self, oid: str, number: str) -> str | None:
        """Another store order, listed before this one, with the same number (the ERPs know
        orders by their number), if any; discarded ones do not count."""
        rows = self.db.query(
            "SELECT o.store_order_id FROM outbox o, outbox me WHERE me.store_order_id = ? AND "
            "o.number = ? AND o.store_order_id != me.store_order_id AND "
            "o.state != 'discarded' AND (o.created_at < me.created_at OR "
            "(o.created_at = me.created_at AND o.store_order_id < me.store_order_id)) "
            "ORDER BY o.created_at LIMIT 1",
            (oid, number),
        )
        return str(rows[0]["store_order_id"]) if rows else None

    def due(self, now: float | None = None, limit: int = 1000) -> list[OutboxRow]:
        """Orders with work to do now, oldest first: interrupted sends first (to reconcile),
        then orders the ERP has but the store was not told of, then queued and due retries."""
        now = now or time.time()
        rows = self.db.query(
            "SELECT * FROM outbox WHERE state = 'sending' OR "
            "(state IN ('queued','sent_to_erp') AND "
            " (next_attempt_at IS NULL OR next_attempt_at <= ?)) OR "
            "(state = 'failed' AND failure_kind IN ('transient','auth') AND next_attempt_at <= ?) "
            "ORDER BY CASE state WHEN 'sending' THEN 0 WHEN 'sent_to_erp' THEN 1 ELSE 2 END, "
            "confirmed_at, created_at LIMIT ?",
            (now, now, limit),
        )
        return [OutboxRow.from_row(r) for r in rows]

    def get(self, oid: str) -> OutboxRow | None:
        rows = self.db.query("SELECT * FROM outbox WHERE store_order_id = ?", (oid,))
        return OutboxRow.from_row(rows[0]) if rows else None

    def columns(self, oid: str) -> dict[str, Any]:
        """The outbox entry's own columns (times, the last error's code and the ERP's
        words, the discard reason), for an order's detail; {} when there is none."""
        rows = self.db.query(
            "SELECT created_at, updated_at, sent_at, done_at, error_code, server_message, "
            "discard_reason FROM outbox WHERE store_order_id = ?",
            (oid,),
        )
        return dict(rows[0]) if rows else {}

    def mark_sending(self, oid: str) -> bool:
        """False when the order is no longer to be sent (discarded meanwhile)."""
        with self.db.tx() as db:
            return bool(
                db.execute(
                    "UPDATE outbox SET state='sending', attempts=attempts+1, updated_at=? "
                    "WHERE store_order_id=? AND state IN ('queued','failed','sending')",
                    (time.time(), oid),
                ).rowcount
            )

    def mark_sent_to_erp(self, oid: str, reference: str, customer_code: str | None) -> None:
        now = time.time()
        with self.db.tx() as db:
            db.execute(
                "UPDATE outbox SET state='sent_to_erp', erp_reference=?, customer_code=?, "
                "failure_kind=NULL, error_code=NULL, last_error=NULL, server_message=NULL,"
                " next_attempt_at=NULL, down_streak=0, sent_at=?, updated_at=? "
                "WHERE store_order_id=?",
                (reference, customer_code, now, now, oid),
            )
            db.execute(
                "INSERT INTO id_map VALUES ('order', ?, ?, ?) ON CONFLICT(entity, store_id)"
                " DO UPDATE SET erp_id = excluded.erp_id",
                (oid, reference, now),
            )
            # an order write that was in doubt is settled
            db.execute("DELETE FROM writes_in_doubt WHERE entity='order' AND store_id=?", (oid,))

    def mark_done(self, oid: str) -> None:
        now = time.time()
        with self.db.tx() as db:
            db.execute(
                "UPDATE outbox SET state='done', done_at=?, updated_at=?, "
                "failure_kind=NULL, last_error=NULL, down_streak=0 WHERE store_order_id=?",
                (now, now, oid),
            )

    def grow_streak(self, oid: str) -> int:
        """One more round of the order's down_streak (a side that answers everything else
        failed on it); returns the new count."""
        with self.db.tx() as db:
            row = db.execute(
                "UPDATE outbox SET down_streak = down_streak + 1 WHERE store_order_id=? "
                "RETURNING down_streak",
                (oid,),
            ).fetchone()
            return int(row[0]) if row else 0

    def report_now(self, oid: str) -> bool:
        """An order in the ERP whose report to the store failed is reported at the next
        pass (the merchant's Retry)."""
        with self.db.tx() as db:
            return bool(
                db.execute(
                    "UPDATE outbox SET next_attempt_at=NULL, updated_at=? "
                    "WHERE store_order_id=? AND state='sent_to_erp'",
                    (time.time(), oid),
                ).rowcount
            )

    def mark_failed(
        self,
        oid: str,
        *,
        kind: str,
        code: str,
        message: str,
        server_message: str | None,
        next_attempt_at: float | None,
        keep_state: bool = False,
        streak: Streak = "reset",
    ) -> bool:
        """Record a failure. With keep_state (a sent_to_erp order whose report to the store
        failed), the state stays and only the error and the next attempt are recorded.
        `streak`: what becomes of the order's down_streak. False (nothing recorded) for an
        order the merchant discarded meanwhile."""
        # servers' texts may quote a token: masked before they are kept
        message, server_message = redact(message), redact_optional(server_message)
        with self.db.tx() as db:
            state_sql = "" if keep_state else "state='failed', "
            streak_sql = _STREAK_SQL[streak]
            return bool(
                db.execute(
                    f"UPDATE outbox SET {state_sql}{streak_sql}failure_kind=?, error_code=?, "
                    "last_error=?, server_message=?, next_attempt_at=?, updated_at=? "
                    "WHERE store_order_id=? AND state != 'discarded'",
                    (kind, code, message, server_message, next_attempt_at, time.time(), oid),
                ).rowcount
            )

    def mark_reported_failed(self, oid: str) -> None:
        with self.db.tx() as db:
            db.execute("UPDATE outbox SET reported_failed=1 WHERE store_order_id=?", (oid,))

    def requeue(self, oid: str, only_failed: bool = False) -> bool:
        """Queue a failed (or, unless `only_failed`, discarded) order again, due now (its
        down_streak stays: a retry that fails the same way is still its own problem)."""
        states = "('failed')" if only_failed else "('failed','discarded')"
        with self.db.tx() as db:
            cur = db.execute(
                "UPDATE outbox SET state='queued', next_attempt_at=NULL, "
                "failure_kind=NULL, updated_at=? WHERE store_order_id=? AND "
                f"state IN {states}",
                (time.time(), oid),
            )
            if cur.rowcount:
                row = db.execute(
                    "SELECT payload FROM outbox WHERE store_order_id=?", (oid,)
                ).fetchone()
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(load_payload(row[0]))],
                )
            return bool(cur.rowcount)

    def requeue_failed(self, kind: str) -> int:
        """Every order that failed with this kind of failure is queued again (orders held
        back by bad credentials, once the settings change). Returns how many."""
        rows = self.db.query(
            "SELECT store_order_id FROM outbox WHERE state='failed' AND failure_kind=?", (kind,)
        )
        return sum(self.requeue(r["store_order_id"]) for r in rows)

    def discard(self, oid: str, reason: str) -> bool:
        with self.db.tx() as db:
            cur = db.execute(
                "UPDATE outbox SET state='discarded', discard_reason=?, "
                "next_attempt_at=NULL, updated_at=? WHERE store_order_id=? AND "
                "state IN ('queued','failed')",
                (reason, time.time(), oid),
            )
            if cur.rowcount:  # a sent order's items still count for recent ERP pages
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
            return bool(cur.rowcount)

    def discard_undoable(self, oid: str, reason: str) -> DiscardUndo | None:
        """Discard an order (or, for one the store changed after it was sent, accept what
        the ERP has: accept_late), keeping how its row was so that `undo_discard` puts it
        back exactly. None when neither applies."""
        with self.db.tx() as db:
            before = db.execute("SELECT * FROM outbox WHERE store_order_id=?", (oid,)).fetchone()
            if before is None:
                return None
            items = [
                (r["sku"], r["quantity"])
                for r in db.execute(
                    "SELECT sku, quantity FROM outbox_items WHERE store_order_id=?", (oid,)
                )
            ]
        if not self.discard(oid, reason) and not self.accept_late(oid):
            return None
        after = self.db.query("SELECT updated_at FROM outbox WHERE store_order_id=?", (oid,))
        return DiscardUndo(oid, dict(before), tuple(items), float(after[0]["updated_at"]))

    def undo_discard(self, undo: DiscardUndo) -> bool:
        """The row as it was before `discard_undoable`, its held-back units too; only when
        nothing touched it since (else False: it moved on, and is left as it is)."""
        with self.db.tx() as db:
            now = db.execute(
                "SELECT updated_at FROM outbox WHERE store_order_id=?", (undo.oid,)
            ).fetchone()
            if now is None or float(now["updated_at"]) != undo.discarded_at:
                return False
            columns = [c for c in undo.row if c != "store_order_id"]
            db.execute(
                f"UPDATE outbox SET {', '.join(f'{c}=?' for c in columns)} WHERE store_order_id=?",
                [*(undo.row[c] for c in columns), undo.oid],
            )
            db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (undo.oid,))
            db.executemany(
                "INSERT INTO outbox_items VALUES (?,?,?)",
                [(undo.oid, sku, q) for sku, q in undo.items],
            )
            return True

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in OrderState}
        for r in self.db.query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"):
            counts[r["state"]] = r["n"]
        return counts

    def reserved(
        self, skus: Iterable[str] | None = None, sent_since: float | None = None
    ) -> dict[str, int]:
        """Units of each SKU sold in the store but not yet created in the ERP. With
        `sent_since`, orders created in the ERP since then count too: an ERP page read
        before they arrived does not show them yet (counting them twice errs on the side
        of showing less stock, never more)."""
        states = ",".join(f"'{s.value}'" for s in RESERVING_STATES)
        sql = (
            "SELECT i.sku, SUM(i.quantity) AS q FROM outbox_items i JOIN outbox o USING "
            f"(store_order_id) WHERE (o.state IN ({states})"
        )
        args: list[Any] = []
        if sent_since is not None:
            sql += " OR (o.state IN ('sent_to_erp','done') AND o.sent_at >= ?)"
            args.append(sent_since)
        sql += ")"
        wanted = list(skus) if skus is not None else None
        out: dict[str, int] = {}
        if wanted is None:
            rows = self.db.query(sql + " GROUP BY i.sku", args)
            return {r["sku"]: r["q"] for r in rows}
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            rows = self.db.query(
                sql + f" AND i.sku IN ({','.join('?' * len(chunk))}) GROUP BY i.sku",
                [*args, *chunk],
            )
            out.update({r["sku"]: r["q"] for r in rows})
        return out

    def search(self, text: str, limit: int = 200) -> list[dict[str, Any]]:
        """Orders whose number, ERP reference, buyer's name, CUIT/DNI (with or without
        dashes, dots or spaces) or an item's SKU contain `text` (any case), newest first:
        their summary (see `SUMMARY`). A scan of the outbox (tens of ms for 100k orders,
        printed by tests/test_search.py), not an index: LIKE '%x%' could not use one."""
        text = text.strip()
        if not text:
            return []
        like = like_pattern(text)
        digits = "".join(c for c in text if c not in " .-/")
        # a document is looked for by its digits: "20-12345678-9" finds "20123456789"
        doc = "%" + digits + "%" if digits.isdigit() and len(digits) >= 4 else None
        rows = self.db.query(
            f"SELECT {SUMMARY} FROM outbox WHERE {text_like('number', text)} LIKE :like "
            f"ESCAPE '\\' OR store_order_id = :text OR {text_like('erp_reference', text)} "
            f"LIKE :like ESCAPE '\\' OR {text_like(_field('$.buyer.business_name'), text)} "
            "LIKE :like ESCAPE '\\' "
            "OR (:doc IS NOT NULL AND replace(replace(replace(replace("
            f"{_field('$.buyer.tax_id')}, '-', ''), '.', ''), ' ', ''), '/', '') "
            "LIKE :doc) "
            "OR store_order_id IN (SELECT store_order_id FROM outbox_items "
            f"WHERE {text_like('sku', text)} LIKE :like ESCAPE '\\') "
            "ORDER BY created_at DESC LIMIT :limit",
            {"like": like, "text": text, "doc": doc, "limit": limit},
        )
        return [dict(r) for r in rows]

    def taken_since(self, since: float) -> tuple[int, int]:
        """Orders taken in from `since` (wall time), and how many of them have a problem
        (failed, or an open error about them)."""
        rows = self.db.query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(state = 'failed' OR EXISTS (SELECT 1 FROM "
            "errors e WHERE e.state = 'open' AND e.subject = 'order:' || o.store_order_id)), 0) "
            "AS bad FROM outbox o WHERE created_at >= ?",
            (since,),
        )
        return int(rows[0]["n"]), int(rows[0]["bad"])

    def per_day(self, days: int = 14) -> list[tuple[str, int]]:
        """Orders created in the ERP per local day, oldest first (days with none included)."""
        since = time.time() - days * 86400
        rows = self.db.query(
            "SELECT date(sent_at, 'unixepoch', 'localtime') AS d, COUNT(*) AS n "
            "FROM outbox WHERE sent_at >= ? GROUP BY d",
            (since,),
        )
        got = {r["d"]: r["n"] for r in rows}
        out = []
        for i in range(days - 1, -1, -1):
            d = time.strftime("%Y-%m-%d", time.localtime(time.time() - i * 86400))
            out.append((d, got.get(d, 0)))
        return out
