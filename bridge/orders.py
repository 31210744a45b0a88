"""Orders: store -> ERP, exactly once.

Per order, the outbox (bridge.state) walks: queued -> sending -> sent_to_erp -> done, or
failed (transient: retried by itself with backoff; auth: retried when credentials change
or after a long wait; data: the merchant must fix it, the store is told).

Exactly once rests on three rules:
1. The outbox row exists before anything is sent (unique on the store order id).
2. An order that was ever `sending` (a crash, a lost reply, a retry) is looked up in the
   ERP by its external number before any resend; a duplicate refusal is a reconcile too.
3. `sent_to_erp` with the ERP reference is committed before the store is told, and the
   store's report is idempotent, so a crash between the two only repeats the report.

Customers have no such key in the ERPs (none refuses a second customer with the same
document), so a customer creation is recorded as "in doubt" before it is sent and settled
when the ERP's answer (or a lookup) gives its code. Until `sync.write_settle_s` after
Bridge gave up on the answer, a lookup that misses makes the order wait: the ERP may still
be working on a request whose answer never came back. (The same holds for orders where
the ERP would not refuse a second one with the same number.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge import redact
from bridge.config import SyncConfig
from bridge.errors import (
    AmbiguousWriteError,
    AuthError,
    BridgeError,
    ConfigError,
    DataError,
    DuplicateError,
    FailureKind,
    OrderConfigError,
    TransientError,
)
from bridge.events import EventBus
from bridge.files import StorageError
from bridge.fiscal import FiscalError, validate_buyer_fiscal
from bridge.model import (
    ErpConnector,
    KeyedCustomers,
    OrderKeys,
    RunResult,
    RunStatus,
    SideHealth,
    StoreConnector,
    StoreOrder,
    Subject,
    ValidBuyer,
)
from bridge.pipeline import Pipeline
from bridge.state import OrderState, OutboxRow, State, order_number
from bridge.state.outbox import Streak

log = logging.getLogger("bridge.orders")

PIPELINE = "orders"

# different copies of one order id kept from one listing (a store listing it twice)
MAX_COPIES = 3
# transient failures that are about the ERP as a whole, not about one order
SIDE_DOWN_CODES = frozenset(
    {
        "unreachable",
        "timeout",
        "connection_lost",
        "unavailable",
        "html_response",
        "rate_limited",
        "malformed_json",
    }
)

# the side-down failures one order can bring about by itself (an ERP that chokes on its
# contents answers with an error page, drops the connection or never answers); a refused
# connection or a rate limit never comes from one order
CHOKE_CODES = SIDE_DOWN_CODES - {"unreachable", "rate_limited"}
# rounds in a row in which a side answered the lookups of an order (the ERP) or the run's
# listing (the store) and then failed that order's write (its send; its report) with one
# of CHOKE_CODES; one more, and the failure is the order's own: the others are not held
# back by it, it waits for its own backoff, and the merchant is asked to look at it
POISON_STREAK = 3


class SideDown(Exception):
    """A side failed for every order (auth, config): stop this run."""

    def __init__(self, error: BridgeError) -> None:
        super().__init__(str(error))
        self.error = error


class OrderPipeline(Pipeline):
    def __init__(
        self,
        state: State,
        events: EventBus,
        store: StoreConnector,
        erp: ErpConnector,
        sync: SyncConfig,
        health: SideHealth | None = None,
        writes_blocked: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        super().__init__(state, events, store, erp, sync, health)
        # why the ERP must not be written to now (its install does not match the settings),
        # or None; asked before each run's sends
        self.writes_blocked = writes_blocked
        self._buyer_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # the store answered this run's listing: a report it then fails is a round of that
        # order's streak (bridge.state.outbox's down_streak), not only the store down
        self._store_answered = False
        # orders whose write (a customer or the order itself) is in flight: a failure then
        # is a failure of that write, not of a lookup
        self._writing: set[str] = set()

    # -- helpers -----------------------------------------------------------------------------
    def _backoff(self, attempts: int) -> float:
        return float(min(self.sync.retry_max_s, self.sync.retry_base_s * 2 ** max(0, attempts - 1)))

    async def run(self, trigger: str = "schedule") -> RunResult:
        if not self.erp.capabilities.orders:
            return RunResult(
                PIPELINE,
                RunStatus.SKIPPED,
                message=self.erp.capabilities.no_orders_reason or "this ERP takes no orders",
            )
        result = RunResult(PIPELINE)
        run_id = await self.recorder.start(PIPELINE, trigger)
        req0 = self.store.requests + self.erp.requests
        rereport: list[OutboxRow] = []
        listing_error: BridgeError | None = None
        # 1. take the store's pending orders into the outbox (the whole listing first: the
        # same order listed twice with different contents is not taken as either copy)
        listed: dict[str, list[Mapping[str, Any]]] = {}
        self._store_answered = False
        try:
            async for page in self.store.pending_orders():
                for raw in page:
                    result.items_seen += 1
                    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) and raw["id"]:
                        # the same order again (a listing that repeats itself) is kept once,
                        # and never more than a few different copies of one id
                        copies = listed.setdefault(raw["id"], [])
                        if len(copies) < MAX_COPIES and all(c != raw for c in copies):
                            copies.append(raw)
                    else:
                        await self._without_id(raw)
                        result.items_failed += 1
            self._health("store")
            self._store_answered = True
            await self.state.call(self.state.errors.resolve, PIPELINE, "store")
        except BridgeError as exc:
            listing_error = exc
            self._health("store", exc)
            await self.state.call(
                self.state.errors.open,
                PIPELINE,
                "store",
                kind=exc.kind.value,
                code=exc.code,
                message=f"Reading the store's pending orders failed: {exc.message}",
                server_message=exc.server_message,
            )
            self.events.error(
                PIPELINE,
                "store_list_failed",
                f"Could not read the store's pending orders: {exc.message}",
            )
        for copies in listed.values():  # what was read before a failure is taken too
            try:
                action, row = await self._take(copies)
            except StorageError:
                raise  # the state file cannot be written: nothing more can be recorded
            except Exception as exc:  # one bad order never stops the others
                await self._unexpected(str(copies[0]["id"]), exc, "taking it from the store")
                result.items_failed += 1
                continue
            if action == "rereport" and row is not None:
                rereport.append(row)
            elif action in ("invalid", "held"):
                result.items_failed += 1
        # 2. work the outbox: reconcile interrupted sends, report, send
        blocked = await self.writes_blocked() if self.writes_blocked is not None else None
        if blocked:
            # the orders stay queued in the outbox; reads (the store's listing) went on
            result.status = RunStatus.FAILED
            result.requests = self.store.requests + self.erp.requests - req0
            result.message = f"{result.items_seen} pending in the store; not sent: {blocked}"
            return await self.recorder.finish(run_id, result)
        due = await self.state.call(self.state.outbox.due)
        side_error: BridgeError | None = None
        sem = asyncio.Semaphore(self.sync.order_concurrency)
        stop = asyncio.Event()

        async def work(row: OutboxRow) -> bool | None:
            nonlocal side_error
            async with sem:
                if stop.is_set():
                    return None
                try:
                    return await self.process(row)
                except SideDown as down:
                    side_error = down.error
                    stop.set()
                    return False
                except StorageError:
                    raise  # the state file cannot be written: the run ends (engine)
                except Exception as exc:  # one bad order never stops the others
                    await self._unexpected(row.store_order_id, exc, "sending it")
                    return False

        outcomes = await asyncio.gather(*(work(r) for r in due))
        for row in rereport:
            outcomes.append(await self._report(row, row.erp_reference or ""))
        result.items_ok += sum(1 for o in outcomes if o is True)
        result.items_failed += sum(1 for o in outcomes if o is False)
        result.requests = self.store.requests + self.erp.requests - req0
        counts = await self.state.call(self.state.outbox.counts)
        result.details = {"counts": counts}
        problem = side_error or listing_error
        if problem is not None and result.items_ok == 0:
            result.status = RunStatus.FAILED
        elif result.items_failed or problem is not None:
            result.status = RunStatus.PARTIAL
        result.message = (
            f"{result.items_seen} pending in the store, {result.items_ok} done, "
            f"{result.items_failed} failed; waiting: {counts['queued']} queued, "
            f"{counts['failed']} failed"
        )
        if problem is not None:
            result.message += f" ({problem.message})"
        if listing_error is None:
            # a rebuilt state file (bridge.state) has every pending order again: lift its mark
            rebuilt = await self.state.call(self.state.finish_rebuild)
            if rebuilt:
                self.events.error(PIPELINE, "state_rebuilt", rebuilt)
        await self.recorder.finish(run_id, result)
        return result

    async def _without_id(self, raw: Any) -> None:
        msg = f"The store listed an order without an id: {redact.redact(str(raw))[:200]}"
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            "store:order-without-id",
            kind=FailureKind.DATA.value,
            code="order_without_id",
            message=msg,
        )
        self.events.error(PIPELINE, "order_without_id", msg)

    async def _take(self, copies: list[Mapping[str, Any]]) -> tuple[str, OutboxRow | None]:
        """Record one listed order (every different copy the listing had of its id)."""
        if len(copies) > 1:
            return await self._listed_twice(copies)
        raw = dict(copies[0])
        known = await self.state.call(self.state.outbox.get, str(raw["id"]))
        action, row = await self.state.call(self.state.outbox.ingest, raw)
        number = row.number
        if action == "new":
            self.events.info(
                PIPELINE,
                "order_received",
                f"Order {number} received from the store",
                order=row.store_order_id,
                number=number,
            )
        elif action == "requeued":
            self.events.info(
                PIPELINE,
                "order_requeued",
                f"Order {number} is pending again in the store; it will be sent again",
                order=row.store_order_id,
                number=number,
            )
        elif action == "updated" and known is not None:
            self.events.info(
                PIPELINE,
                "order_updated",
                f"Order {number} was changed in the store before it was sent: "
                f"{order_difference(known.payload, raw)}; the new version will "
                "be sent",
                order=row.store_order_id,
                number=number,
            )
        elif action == "changed_after_send" and known is not None:
            await self._changed_after_send(known, raw)
        return action, row

    async def _listed_twice(self, copies: list[Mapping[str, Any]]) -> tuple[str, OutboxRow | None]:
        oid = str(copies[0]["id"])
        number = order_number(copies[0], oid)
        message = (
            f"Order {number}: the store lists it {len(copies)} times with different "
            f"contents ({order_difference(copies[0], copies[1])}); it is not sent until "
            "the store lists it once. Check the order in the store"
        )
        action, row = await self.state.call(self.state.outbox.listed_twice, copies, message)
        if row.state == OrderState.DISCARDED:
            return "known", row  # the merchant decided it is not sent
        if action == "frozen":
            message = (
                f"Order {number}: the store lists it {len(copies)} times with different "
                f"contents ({order_difference(copies[0], copies[1])}) after it was sent "
                f"to the ERP{' as ' + row.erp_reference if row.erp_reference else ''}; "
                "the ERP keeps what was sent. Check the order in the store and the ERP"
            )
        await self._merchant_error(oid, "listed_twice", message, number)
        return ("held" if action == "held" else "known"), row

    async def _changed_after_send(self, sent: OutboxRow, late: Mapping[str, Any]) -> None:
        """The store changed an order after it was (or may have been) sent: what was sent is
        frozen; the merchant is told the difference (no report of "sent" for a version the
        ERP does not have until they accept it: Retry or Discard on the error)."""
        difference = order_difference(sent.payload, late)
        if sent.state in (OrderState.SENT_TO_ERP, OrderState.DONE):
            where = f" as {sent.erp_reference}" if sent.erp_reference else ""
            message = (
                f"Order {sent.number} was changed in the store after it was sent to "
                f"the ERP{where}: {difference}. The ERP keeps what was sent; change it "
                "in the ERP by hand if needed, then Retry (or Discard) this error to "
                "tell the store it was sent"
            )
        else:
            message = (
                f"Order {sent.number} was changed in the store while a send of it may "
                f"have reached the ERP: {difference}. Bridge looks it up in the ERP: if "
                "the ERP does not have it, the new version is sent; if it does, the ERP "
                "keeps what was sent and you are asked here"
            )
        await self._merchant_error(sent.store_order_id, "changed_after_send", message, sent.number)

    async def _merchant_error(self, oid: str, code: str, message: str, number: str) -> None:
        """An error only the merchant can settle, logged once while it stays the same."""
        subject = str(Subject.order(oid))
        before = await self.state.call(self.state.errors.open_message, PIPELINE, subject)
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            subject,
            kind=FailureKind.DATA.value,
            code=code,
            message=message,
        )
        if before != message:
            self.events.error(PIPELINE, code, message, order=oid, number=number)

    async def _unexpected(self, oid: str, exc: BaseException, doing: str) -> None:
        """An exception no connector turned into a BridgeError (a bug, or data nobody
        foresaw): logged with its traceback, recorded against the order, retried later."""
        log.error("order %s: unexpected error %s", oid, doing, exc_info=exc)
        error = TransientError(
            f"Order {oid}: unexpected error while {doing} ({type(exc).__name__}: "
            f"{redact.redact(str(exc))[:200]}); Bridge retries it later; if it persists, send the "
            "diagnostics to support",
            code="internal_error",
        )
        row = await self.state.call(self.state.outbox.get, oid)
        if row is None:
            await self.state.call(
                self.state.errors.open,
                PIPELINE,
                str(Subject.order(oid)),
                kind=error.kind.value,
                code=error.code,
                message=error.message,
            )
            self.events.error(
                PIPELINE,
                "order_failed",
                error.message,
                order=oid,
                kind=error.kind.value,
                error_code=error.code,
            )
            return
        # never left in `sending`: failed (transient) with attempts kept, so the next try
        # looks the order up in the ERP before sending it
        await self._fail(row, error)

    # -- one order ---------------------------------------------------------------------------
    async def process(self, row: OutboxRow) -> bool:
        """Take one order as far as it can go. True when done, False when it failed."""
        try:
            return await self._process(row)
        finally:
            self._writing.discard(row.store_order_id)

    async def _process(self, row: OutboxRow) -> bool:
        oid = row.store_order_id
        if row.state == OrderState.SENT_TO_ERP:
            return await self._report(row, row.erp_reference or "")
        if row.damaged:
            await self._fail(
                row,
                DataError(
                    f"Order {row.number}: Bridge's copy of it in the state file is damaged; it is "
                    "taken again from the store when the store lists it (Retry after that)",
                    code="state_damaged",
                ),
            )
            return False
        try:
            order = self.store.parse_order(row.payload)
        except DataError as exc:
            await self._fail(row, exc)
            return False
        keyed = not isinstance(self.erp, OrderKeys) or self.erp.orders_keyed()
        try:
            other = await self.state.call(self.state.outbox.number_taken, oid, order.number)
            if other is not None:
                # the ERPs know an order by its number: this one would be taken for the other
                raise DataError(
                    f"Order {order.number}: another store order ({other}) has the same number "
                    "and came first; the ERP knows orders by their number, so this one is not "
                    "sent. Check both in the store",
                    code="number_taken",
                )
            if row.state == OrderState.SENDING or row.attempts > 0 or row.reconcile or not keyed:
                # a send may have reached the ERP before the reply (or the process) was
                # lost, or before the state file that recorded it was damaged (reconcile);
                # where the ERP would not refuse a repeat, even a first send looks first
                # (Bridge's own state may have been lost)
                ref = await self.erp.find_order(order)
                if ref:
                    self._reconciled(oid, order, ref)
                    await self._mark_sent(oid, order, ref, None)
                    self._health("erp")
                    return await self._report(row, ref)
                if not keyed:
                    await self._unsettled_order(oid, order)
                if row.late:
                    # the store changed the order while a send of it was in doubt, and the
                    # ERP does not have it: the new version is the one to send
                    row = await self.state.call(self.state.outbox.adopt_late, oid)
                    order = self.store.parse_order(row.payload)
                    await self.state.call(
                        self.state.errors.resolve, PIPELINE, str(Subject.order(oid))
                    )
                    self.events.info(
                        PIPELINE,
                        "order_updated",
                        f"Order {order.number} was changed in the store while a "
                        "send of it was in doubt; the ERP does not have it, so "
                        "the new version is sent",
                        order=oid,
                        number=order.number,
                    )
            try:
                doc, condition = validate_buyer_fiscal(
                    order.buyer.tax_id, order.buyer.tax_condition
                )
            except FiscalError as exc:
                raise DataError(
                    f"Order {order.number}: buyer '{order.buyer.business_name}': {exc}. Fix "
                    "the buyer's fiscal data in the store, then retry",
                    code=exc.code,
                ) from None
            buyer = ValidBuyer(order.buyer, doc, condition)
            customer = await self._customer(buyer, order) if self.erp.capabilities.customers else ""
            if not await self.state.call(self.state.outbox.mark_sending, oid):
                return False  # discarded by the merchant while this pass had it
            if not keyed:
                await self.state.call(self.state.idmap.doubt_begin, "order", oid)
            self._writing.add(oid)
            try:
                ref = await self.erp.create_order(order, customer, buyer)
            except DuplicateError:
                self._writing.discard(oid)
                found = await self.erp.find_order(order)
                if not found:
                    raise DataError(
                        f"Order {order.number}: the ERP says it already has it, but it cannot "
                        "be found by its number; check the ERP",
                        code="duplicate_unresolved",
                    ) from None
                ref = found
                self._reconciled(oid, order, ref)
            except AmbiguousWriteError:
                if not keyed:  # it stays in doubt, from now (see _still_in_doubt)
                    await self._still_in_doubt("order", oid)
                raise
            except BridgeError:
                if not keyed:  # the ERP answered: nothing was created
                    await self.state.call(self.state.idmap.doubt_clear, "order", oid)
                raise
            self._writing.discard(oid)
            await self._mark_sent(oid, order, ref, customer or None)
            self._health("erp")
            self.events.info(
                PIPELINE,
                "order_sent",
                f"Order {order.number} created in the ERP as {ref}",
                order=oid,
                number=order.number,
                erp_reference=ref,
                customer=customer,
            )
        except OrderConfigError as exc:
            # a setting only this order needs: it waits for the settings, the rest go on
            await self._fail(row, exc, order)
            return False
        except (AuthError, ConfigError) as exc:
            self._health("erp", exc)
            await self._fail(row, exc, order)
            raise SideDown(exc) from None
        except BridgeError as exc:
            if exc.retryable and exc.code in SIDE_DOWN_CODES:
                if exc.code not in CHOKE_CODES:
                    streak: Streak = "keep"  # nothing listens, or slow down: nothing of it
                elif oid in self._writing:
                    # its write failed: from the second round on, after this pass's lookups
                    # of it were answered (each later pass looks it up first)
                    streak = "grow"
                    if row.down_streak >= POISON_STREAK:
                        # round after round: not the ERP down, this order's own problem
                        await self._fail(row, exc, order, streak="grow", choked=True)
                        return False
                else:
                    streak = "reset"  # a lookup failed: the ERP fails reads too
                await self._fail(row, exc, order, streak=streak)
                # the ERP itself is down: the other orders wait for the next run
                self._health("erp", exc)
                raise SideDown(exc) from None
            await self._fail(row, exc, order)
            return False
        return await self._report(row, ref)

    def _reconciled(self, oid: str, order: StoreOrder, ref: str) -> None:
        """Said when the ERP turns out to have the order already (a lookup before a resend,
        or its refusal of a duplicate): it is not sent again."""
        self.events.info(
            PIPELINE,
            "order_reconciled",
            f"Order {order.number} was already in the ERP as {ref}; not sent again",
            order=oid,
            erp_reference=ref,
            number=order.number,
        )

    async def _mark_sent(self, oid: str, order: StoreOrder, ref: str, customer: str | None) -> None:
        """Record the ERP's document for this order; one ERP document is never the
        reference of two store orders (a lookup that matched too much is a data error, not
        a crash)."""
        other = await self.state.call(self.state.idmap.order_with_reference, ref)
        if other is not None and other != oid:
            raise DataError(
                f"Order {order.number}: the ERP document {ref} found for it is already the "
                f"one of another store order ({other}); check both in the ERP",
                code="reference_taken",
            )
        await self.state.call(self.state.outbox.mark_sent_to_erp, oid, ref, customer)

    async def _unsettled_for(self, entity: str, key: str) -> float | None:
        """Seconds left before a creation in doubt may be sent again (None: none is)."""
        # measured on the monotonic clock where it can be: setting the computer's clock
        # forward must not end the wait
        age = await self.state.call(self.state.idmap.doubt_age, entity, key)
        if age is None:
            return None
        wait = self.sync.write_settle_s - age
        return wait if wait > 0 else None

    async def _still_in_doubt(self, entity: str, key: str) -> None:
        """A write whose answer was given up on: its settle window starts again now. It was
        recorded as in doubt before the connector was called, but the request itself may
        have left much later (a connector sends its writes one at a time, and waited for
        others that hung), and the ERP may finish it any time after that."""
        await self.state.call(self.state.idmap.doubt_begin, entity, key)

    async def _unsettled_order(self, oid: str, order: StoreOrder) -> None:
        """Where the ERP would not refuse a second order, a send whose answer never came
        and that a lookup does not find yet may still be under way in the ERP: wait until
        `sync.write_settle_s` after it began before sending again."""
        wait = await self._unsettled_for("order", oid)
        if wait:
            raise TransientError(
                f"Order {order.number}: the ERP did not confirm it and does not list it yet; "
                "Bridge looks again before sending it a second time",
                code="order_unconfirmed",
                retry_after=wait,
            )

    async def _customer(self, buyer: ValidBuyer, order: StoreOrder) -> str:
        key = f"{buyer.document.kind}:{buyer.document.number}"
        async with self._buyer_locks[key]:
            code = await self.state.call(self.state.idmap.get, "customer", key)
            if code:
                return code
            code = await self.erp.find_customer(buyer)
            if code:
                self.events.info(
                    PIPELINE,
                    "customer_found",
                    f"Buyer {buyer.buyer.business_name} ({buyer.document.formatted()})"
                    f" is customer {code} in the ERP (order {order.number})",
                    order=order.id,
                    number=order.number,
                    customer=code,
                    name=buyer.buyer.business_name,
                    document=buyer.document.formatted(),
                )
            else:
                self._writing.add(order.id)  # a failure now is this write's (see _process)
                code = await self._create_customer(buyer, key)
                self._writing.discard(order.id)
                self.events.info(
                    PIPELINE,
                    "customer_created",
                    f"Customer {code} created in the ERP for "
                    f"{buyer.buyer.business_name} ({buyer.document.formatted()}), "
                    f"order {order.number}",
                    order=order.id,
                    number=order.number,
                    customer=code,
                    name=buyer.buyer.business_name,
                    document=buyer.document.formatted(),
                )
            await self.state.call(self.state.idmap.put, "customer", key, code)
            return code

    async def _create_customer(self, buyer: ValidBuyer, key: str) -> str:
        """Create the customer the ERP does not list, unless an earlier creation of theirs
        is still unsettled (see the module's docstring)."""
        if isinstance(self.erp, KeyedCustomers) and self.erp.customer_key(buyer):
            # the connector chose the customer's code: the ERP itself refuses a second
            # creation, and the connector settles a lost reply by reading that code back
            return await self.erp.create_customer(buyer)
        wait = await self._unsettled_for("customer", key)
        if wait:
            raise TransientError(
                f"The ERP did not confirm creating customer {buyer.buyer.business_name} "
                f"({buyer.document.formatted()}) and does not list them yet; Bridge looks "
                "again before creating them a second time",
                code="customer_unconfirmed",
                retry_after=wait,
            )
        await self.state.call(self.state.idmap.doubt_begin, "customer", key)
        try:
            return await self.erp.create_customer(buyer)
        except AmbiguousWriteError:
            await self._still_in_doubt("customer", key)
            raise
        except BridgeError:
            # the ERP answered: nothing was created
            await self.state.call(self.state.idmap.doubt_clear, "customer", key)
            raise

    async def _report(self, row: OutboxRow, ref: str) -> bool:
        oid = row.store_order_id
        if row.late:
            # the store changed the order after the ERP got it: no "sent" for a version the
            # ERP does not have until the merchant accepts (Retry or Discard on the error)
            await self.state.call(
                self.state.outbox.mark_failed,
                oid,
                kind=FailureKind.DATA.value,
                code="changed_after_send",
                message="changed in the store after the ERP got it; waiting "
                "for the merchant (see the error list)",
                server_message=None,
                next_attempt_at=time.time() + self.sync.retry_max_s,
                keep_state=True,
            )
            return False
        try:
            await self.store.report_sent(oid, ref)
        except BridgeError as exc:
            retry_in = self.sync.orders_interval_s if exc.retryable else self._backoff(8)
            # the store answered this run's listing, and fails this order's report: a
            # round of its streak; past POISON_STREAK, this order's own problem
            rounds = 0
            if exc.retryable and exc.code in CHOKE_CODES and self._store_answered:
                rounds = await self.state.call(self.state.outbox.grow_streak, oid)
            choked = rounds > POISON_STREAK
            if choked:
                retry_in = self._backoff(rounds)
            await self.state.call(
                self.state.outbox.mark_failed,
                oid,
                kind=exc.kind.value,
                code="store_fails_on_report" if choked else exc.code,
                message=exc.message,
                server_message=exc.server_message,
                next_attempt_at=time.time() + retry_in,
                keep_state=True,
                streak="keep",
            )
            if choked:
                message = (
                    f"Order {row.number} is in the ERP as {ref}, but the store fails each "
                    "time Bridge tells it so, while it answers everything else (last time: "
                    f"{exc.message}). The store still shows it as waiting for the ERP: do "
                    "not enter it in the ERP again; if it persists, tell VentasxMayor support"
                )
                await self.state.call(
                    self.state.errors.open,
                    PIPELINE,
                    str(Subject.order(oid)),
                    kind=FailureKind.DATA.value,
                    code="store_fails_on_report",
                    message=message,
                    server_message=exc.server_message,
                )
            elif exc.retryable or isinstance(exc, AuthError):
                self._health("store", exc)
            else:
                await self.state.call(
                    self.state.errors.open,
                    PIPELINE,
                    str(Subject.order(oid)),
                    kind=exc.kind.value,
                    code=exc.code,
                    message=f"Order {row.number} is in the ERP as {ref}, but "
                    f"the store refused the report: {exc.message}",
                    server_message=exc.server_message,
                )
            self.events.warning(
                PIPELINE,
                "report_failed",
                f"Order {row.number} is in the ERP as {ref}; telling the store "
                f"failed ({exc.message}); will retry",
                order=oid,
                number=row.number,
                error_code=exc.code,
            )
            return False
        await self.state.call(self.state.outbox.mark_done, oid)
        await self.state.call(self.state.errors.resolve, PIPELINE, str(Subject.order(oid)))
        self._health("store")
        self.events.info(
            PIPELINE,
            "order_done",
            f"Order {row.number} reported to the store as sent ({ref})",
            order=oid,
            erp_reference=ref,
            number=row.number,
        )
        return True

    async def _fail(
        self,
        row: OutboxRow,
        exc: BridgeError,
        order: StoreOrder | None = None,
        *,
        streak: Streak = "reset",
        choked: bool = False,
    ) -> None:
        """Record the order's failure (outbox, error list, log). `streak`: what becomes of
        its down_streak; `choked`: its write failed as if the ERP were down past
        POISON_STREAK rounds (retried by itself at its pace, but an error for the merchant
        to look at)."""
        oid = row.store_order_id
        number = order.number if order else row.number
        attempts = row.attempts + 1
        if exc.kind == FailureKind.TRANSIENT:
            delay = self._backoff(attempts)
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                delay = max(1.0, exc.retry_after)
            next_at: float | None = time.time() + delay
            what = f"will retry in {delay:.0f} s"
        elif exc.kind in (FailureKind.AUTH, FailureKind.CONFIG):
            next_at = time.time() + self.sync.retry_max_s
            what = "fix the settings; it is retried when they change"
        else:
            next_at = None
            what = "fix the data, then retry it from the error list"
        kind = FailureKind.AUTH.value if exc.kind == FailureKind.CONFIG else exc.kind.value
        # the error list's row: with `choked`, one for the merchant (the order is still
        # retried by itself: the outbox keeps the failure's own kind)
        code, error_kind, text = exc.code, kind, exc.message
        if choked:
            code, error_kind = "erp_fails_on_order", FailureKind.DATA.value
            text = (
                "the ERP fails each time it receives this order, while it answers "
                f"everything else (last time: {exc.message}). Check the order in the "
                "store and in the ERP"
            )
        if not await self.state.call(
            self.state.outbox.mark_failed,
            oid,
            kind=kind,
            code=code,
            message=text,
            server_message=exc.server_message,
            next_attempt_at=next_at,
            streak=streak,
        ):
            return  # discarded by the merchant while this pass had it
        message = text if number in text else f"Order {number}: {text}"
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            str(Subject.order(oid)),
            kind=error_kind,
            code=code,
            message=message,
            server_message=exc.server_message,
        )
        level = "warning" if exc.kind == FailureKind.TRANSIENT and not choked else "error"
        self.events.emit(
            level,
            PIPELINE,
            "order_failed",
            f"{message} — {what}",
            order=oid,
            number=number,
            kind=error_kind,
            error_code=code,
        )
        if (
            exc.kind == FailureKind.DATA
            and self.sync.report_failures_to_store
            and not row.reported_failed
        ):
            try:
                await self.store.report_failed(oid, message)
                await self.state.call(self.state.outbox.mark_reported_failed, oid)
            except BridgeError as report_exc:
                self.events.warning(
                    PIPELINE,
                    "report_failed",
                    f"Could not tell the store that order {number} failed: {report_exc.message}",
                    order=oid,
                )


def _lines(payload: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """SKU -> (quantity, unit price) as listed (text: it may be anything)."""
    out: dict[str, tuple[str, str]] = {}
    items = payload.get("items")
    for it in items if isinstance(items, list) else []:
        if isinstance(it, Mapping):
            sku = str(it.get("sku"))
            q, p = str(it.get("quantity")), str(it.get("unit_price", ""))
            if sku in out:  # a SKU on two lines: added up where it can be
                try:
                    q = str(Decimal(out[sku][0]) + Decimal(q))
                except (InvalidOperation, ValueError):
                    q = f"{out[sku][0]}+{q}"
            out[sku] = (q, p)
    return out


def order_difference(before: Mapping[str, Any], after: Mapping[str, Any], limit: int = 6) -> str:
    """What changed between two versions of a store order, for people (items first)."""
    a, b = _lines(before), _lines(after)
    parts = []
    for sku in sorted(set(a) | set(b)):
        if sku not in b:
            parts.append(f"{sku} removed (was {a[sku][0]})")
        elif sku not in a:
            parts.append(f"{sku} added ({b[sku][0]})")
        elif a[sku][0] != b[sku][0]:
            parts.append(f"{sku} quantity {a[sku][0]} -> {b[sku][0]}")
        elif a[sku][1] != b[sku][1]:
            parts.append(f"{sku} price {a[sku][1]} -> {b[sku][1]}")
    for key in ("total", "payment_terms", "notes"):
        if str(before.get(key, "")) != str(after.get(key, "")):
            parts.append(f"{key} {before.get(key, '')} -> {after.get(key, '')}")
    bb, ab = before.get("buyer"), after.get("buyer")
    if isinstance(bb, Mapping) and isinstance(ab, Mapping):
        changed = sorted(k for k in set(bb) | set(ab) if bb.get(k) != ab.get(k))
        if changed:
            parts.append("buyer's " + ", ".join(changed))
    if not parts:
        return "other details changed"
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more
