"""Catalog: ERP stock and prices -> store, only what changed.

For each page the ERP connector yields:
- stock = max(0, the ERP's available quantity) minus the units of store orders that are
  confirmed but not yet created in the ERP (no resurrected stock), never below 0;
- price = the configured list's price, 2 decimals; a zero or missing price is not pushed
  (a free product in the store is worse than a stale price);
- compared with the last values pushed (SQLite); only changes go out, in batches of at
  most 500. `full` pushes everything.
After a complete pass, SKUs pushed before that the ERP no longer lists are set to stock 0.

Nothing is pushed until the whole run is read and staged (SQLite): the catastrophe guard
then checks it. A run that would zero or remove more than `guard_zero_share` of the
products, or change more than `guard_price_share` of the prices by more than
`guard_price_factor` times, is held — an ERP that answers "no results" by mistake must not
empty the store — until the merchant approves it or a later run looks sane again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge import numbers
from bridge.errors import BridgeError, DataError, FailureKind, NotFoundError
from bridge.model import (
    CatalogConsumer,
    CatalogItem,
    PushResult,
    RowProblem,
    RunResult,
    RunStatus,
    StockPrice,
    Subject,
)
from bridge.pipeline import Pipeline
from bridge.state import State

PIPELINE = "catalog"
UNKNOWN_SUBJECT = "store:unknown-skus"
# products the store refused (see _push_isolating) with the stock and price it refused:
# pushed again, each on its own, by the next runs until it takes them
REFUSED_KEY = "catalog_refused"
# failures of a stock/price update its rows can bring about: the store refusing a value
# (a 4xx), or choking on one row (an error page, a 5xx, a broken answer, a dropped
# connection). A refused connection, a timeout, a rate limit, the credentials, a wrong URL
# are about the store as a whole
ROW_CHOKE_CODES = frozenset(
    {
        "unavailable",
        "html_response",
        "malformed_json",
        "bad_encoding",
        "bad_response",
        "connection_lost",
    }
)
# extra pushes (each retried as any request) one run may spend finding the rows the
# batches it failed hold; what was found by then is kept, and the run stops
ISOLATION_BUDGET = 64
# new refusals in a run in which the store took nothing: the store refusing every update
# (its API changed, say), not that many products at fault
STORE_WIDE_REFUSALS = 3
# how long a probe of the store (is it up?) stands for, in seconds
PROBE_TTL_S = 5.0
HELD_SUBJECT = "catalog:held"
# the last held run (what it would change, with examples) and the merchant's approval of it
HELD_KEY = "catalog_held"
APPROVED_KEY = "catalog_approved"
# the SKUs whose changes the guard counted in the held run, and in the approved one
HELD_SKUS_KEY = "catalog_held_skus"
APPROVED_SKUS_KEY = "catalog_approved_skus"
# an approval is for what the merchant saw then: it lapses after this long (s)
APPROVAL_TTL_S = 3600.0
# an approved run is pushed by the next run that reads the ERP again, if the changes it
# counts are those the approval covered: up to this share more, plus a few items
APPROVAL_SLACK = 0.05
APPROVAL_SLACK_ITEMS = 10
EXAMPLES = 10
# products the first-run preview shows as examples
PREVIEW_EXAMPLES = 5


CENT = Decimal("0.01")
ZERO = "0.00"
# events of one kind a run logs by SKU (invalid rows, repeated SKUs); the rest are counted
EVENTS_PER_RUN = 10


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def target(
    item: CatalogItem, reserved: int, allow_zero_price: bool = False
) -> tuple[int, str | None]:
    """What the store should show for an ERP item: (stock, price or None to leave it). The
    price is the one the store would get, rounded to cents: one that rounds to 0.00 (an ERP
    price of 0.004) is left out unless free products are allowed. An item whose numbers are
    beyond bridge.numbers' limits (NaN, 1E+19 units, a price of 1E+400) is a DataError."""
    problem = numbers.item_problem(item)
    if problem is not None:  # a connector that built it unchecked: refused, never crashed on
        raise DataError(f"SKU {item.sku}: {problem}", code="erp_row_invalid")
    return _target(item, reserved, allow_zero_price)


def _target(item: CatalogItem, reserved: int, allow_zero_price: bool) -> tuple[int, str | None]:
    """target() of an item already within bridge.numbers' limits."""
    # whole units on hand (int() truncates: the floor of a positive quantity; a negative
    # one is 0 either way) less those sold in the store and not yet in the ERP
    stock = max(0, int(item.available) - reserved)
    price = item.price
    if price is None or price <= 0:
        return stock, None
    rounded = money(price if isinstance(price, Decimal) else Decimal(price))
    return stock, (rounded if allow_zero_price or rounded != ZERO else None)


def collapses(item: CatalogItem, price: str | None, previous_price: str | None) -> bool:
    """The ERP's price rounds to 0.00 (`price`, from `target`, is then "0.00" or None for a
    positive ERP price) where the store had a price: a collapse for the guard, pushed or
    not."""
    fell = price == ZERO or (price is None and item.price is not None and item.price > 0)
    return fell and bool(previous_price) and Decimal(str(previous_price)) > 0


@dataclass(frozen=True)
class Change:
    """One product a held run would change (an example for the merchant)."""

    sku: str
    stock_before: int | None
    stock_after: int | None
    price_before: str | None
    price_after: str | None
    vanished: bool = False

    def describe(self) -> str:
        parts = []
        if self.vanished:
            parts.append(f"no longer listed by the ERP: stock {self.stock_before} -> 0")
        elif self.stock_after is not None and self.stock_after != self.stock_before:
            parts.append(
                f"stock {self.stock_before if self.stock_before is not None else '?'}"
                f" -> {self.stock_after}"
            )
        if (self.price_after or None) != (self.price_before or None) and self.price_before:
            parts.append(
                f"price {self.price_before} -> {self.price_after or 'not pushed (0.00 or none)'}"
            )
        return f"{self.sku}: " + (", ".join(parts) or "changed")


@dataclass(frozen=True)
class PreviewProduct:
    """A store product the first sync would change: what the store shows now (as the store
    sent it) and what it would get (price None: left as it is)."""

    sku: str
    stock_now: Any
    price_now: Any
    stock: int
    price: str | None


@dataclass(frozen=True)
class HeldRun:
    """A catalog run the catastrophe guard held: why, how much it would change, examples.
    Saved in the state file, so the CLI, the UI and the engine see the same one."""

    run_id: int
    at: float
    reasons: str
    known: int  # products Bridge had pushed before
    zeroed: int  # would go to stock 0 (vanished included)
    vanished: int
    price_jumps: int  # prices changing more than the factor or falling to 0.00
    changes: int  # staged changes in all
    examples: tuple[Change, ...] = ()

    def to_json(self) -> str:
        data = {
            k: getattr(self, k)
            for k in (
                "run_id",
                "at",
                "reasons",
                "known",
                "zeroed",
                "vanished",
                "price_jumps",
                "changes",
            )
        }
        data["examples"] = [
            {
                "sku": e.sku,
                "stock_before": e.stock_before,
                "stock_after": e.stock_after,
                "price_before": e.price_before,
                "price_after": e.price_after,
                "vanished": e.vanished,
            }
            for e in self.examples
        ]
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> HeldRun:
        d: Mapping[str, Any] = json.loads(raw)
        return cls(
            int(d["run_id"]),
            float(d["at"]),
            str(d["reasons"]),
            int(d["known"]),
            int(d["zeroed"]),
            int(d["vanished"]),
            int(d["price_jumps"]),
            int(d["changes"]),
            tuple(Change(**e) for e in d.get("examples", ())),
        )

    def summary(self) -> list[str]:
        """For people (the CLI; the UI says it in their language from the fields)."""
        lines = [
            f"Catalog run {self.run_id} of "
            f"{time.strftime('%d/%m/%Y %H:%M', time.localtime(self.at))} was held: "
            f"{self.reasons}.",
            f"It would change {self.changes} products of {self.known}: {self.zeroed} to "
            f"stock 0 ({self.vanished} no longer listed by the ERP), {self.price_jumps} "
            "prices jumping or falling to 0.00.",
        ]
        if self.examples:
            lines.append("For example:")
            lines += [f"  {e.describe()}" for e in self.examples]
        return lines


def held_run(state: State) -> HeldRun | None:
    """The catalog run the guard holds now, or None."""
    raw = state.kv.get(HELD_KEY)
    return HeldRun.from_json(raw) if raw else None


def approve_held(state: State, run_id: int) -> HeldRun:
    """The merchant approves held run `run_id`: the next catalog run pushes what it reads if
    the changes the guard counts are those this run showed (a fresh read, never a stale
    copy; see _covered). Only the run held now can be approved: a later held run replaces it
    and needs its own approval."""
    held = held_run(state)
    if held is None:
        raise DataError("No catalog run is held now; nothing to approve", code="nothing_held")
    if held.run_id != run_id:
        raise DataError(
            f"Catalog run {run_id} is not the one held now (run {held.run_id} "
            "is); look at that one before approving it",
            code="approval_stale",
        )
    state.kv.set(APPROVED_SKUS_KEY, state.kv.get(HELD_SKUS_KEY) or "[]")
    state.kv.set(APPROVED_KEY, json.dumps({"held": held.to_json(), "at": time.time()}))
    for err in state.errors.recent("open"):
        if err["pipeline"] == PIPELINE and err["subject"] == HELD_SUBJECT:
            state.errors.close(err["id"], "resolved", f"approved run {run_id}")
    return held


def load_refused(state: State) -> dict[str, tuple[int | None, str | None]]:
    """The products the store refused, with the stock and price it refused (REFUSED_KEY)."""
    return {k: (v[0], v[1]) for k, v in json.loads(state.kv.get(REFUSED_KEY) or "{}").items()}


def save_refused(state: State, refused: Mapping[str, tuple[int | None, str | None]]) -> None:
    state.kv.set(
        REFUSED_KEY,
        json.dumps({k: list(v) for k, v in sorted(refused.items())}) if refused else None,
    )


def _forget_refused(state: State, sku: str) -> None:
    """The store took `sku` (updated on its own): no run offers its refused figures again."""
    refused = load_refused(state)
    if refused.pop(sku, None) is not None:
        save_refused(state, refused)


def forget_approval(state: State) -> None:
    """An approval is spent (pushed, or found worse), lapsed, or the settings changed."""
    state.kv.set(APPROVED_KEY, None)
    state.kv.set(APPROVED_SKUS_KEY, None)


def approval(state: State) -> tuple[HeldRun, set[str]] | None:
    """The merchant's approval in force (the run approved and the SKUs whose changes it
    covers), or None; a lapsed one is forgotten."""
    raw = state.kv.get(APPROVED_KEY)
    if not raw:
        return None
    data = json.loads(raw)
    if abs(time.time() - float(data["at"])) > APPROVAL_TTL_S:
        forget_approval(state)
        return None
    return HeldRun.from_json(data["held"]), set(json.loads(state.kv.get(APPROVED_SKUS_KEY) or "[]"))


def _covered(approved: set[str], counted: list[str]) -> bool:
    """The changes counted now are those approved (a few more allowed: the ERP moves on)."""
    extra = sum(1 for sku in counted if sku not in approved)
    return extra <= len(approved) * APPROVAL_SLACK + APPROVAL_SLACK_ITEMS


@dataclass
class CatalogRun:
    """One catalog run as its stages see it: what it lists (`full`, `since`), what staging
    counted, and what it did (`result`, whose status and message are settled last)."""

    run_id: int
    full: bool  # push everything listed, not only what changed
    since: float | None  # where an incremental listing starts; None: a whole listing
    started: float
    requests_before: int  # the connectors' request counts when it started
    result: RunResult
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "negative": 0,
            "zero_price": 0,
            "vanished": 0,
            "price_collapses": 0,
            "refused": 0,
        }
    )
    # SKUs new to the state file that this run listed (known ones are marked in SQLite,
    # so a 100,000-variant run does not hold them all in memory)
    seen: set[str] = field(default_factory=set)
    problems: set[str] = field(default_factory=set)  # subjects of the rows refused
    unknown: list[str] = field(default_factory=list)  # SKUs pushed the store does not know
    read_s: float | None = None  # reading and staging the ERP's listing
    # products the store refused before (REFUSED_KEY), and those of them this run listed
    refused_before: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    relisted: set[str] = field(default_factory=set)
    isolation_left: int = ISOLATION_BUDGET
    probe: tuple[float, bool] | None = None  # (monotonic time, the store answered)


@dataclass(frozen=True)
class Pushed:
    """The run read the whole listing, the guard let it through, the store took it all."""


@dataclass(frozen=True)
class Held:
    """The catastrophe guard held the run: nothing was pushed."""

    why: str


@dataclass(frozen=True)
class Stopped:
    """A side failed: the ERP while it was read (nothing was pushed), or the store while it
    was pushed to (what it took before is recorded; the rest goes next time)."""

    side: str  # "erp" | "store"
    error: BridgeError


# how a catalog run ended
RunEnd = Pushed | Held | Stopped


def status_of(end: RunEnd, items_failed: int) -> RunStatus:
    """A catalog run's status from how it ended and how many rows it refused."""
    if isinstance(end, Stopped):
        return RunStatus.FAILED
    if isinstance(end, Held):
        return RunStatus.HELD
    return RunStatus.PARTIAL if items_failed else RunStatus.OK


def row_caused(exc: BridgeError) -> bool:
    """A failed stock/price update that one of its rows may have brought about: the store
    refused it (a 4xx other than a missing path) or choked on it (ROW_CHOKE_CODES)."""
    if isinstance(exc, DataError):
        return not isinstance(exc, NotFoundError)
    return exc.code in ROW_CHOKE_CODES


@dataclass
class Pushes:
    """What a push of staged rows came to: the parts the store took (with its answer to
    each) and the rows it refused (with why); `stop`, the failure to stop the run with
    once these are recorded (the search for refused rows spent its budget)."""

    taken: list[tuple[list[StockPrice], PushResult]] = field(default_factory=list)
    refused: list[tuple[StockPrice, BridgeError]] = field(default_factory=list)
    stop: BridgeError | None = None

    def add(self, other: Pushes) -> None:
        self.taken += other.taken
        self.refused += other.refused
        self.stop = self.stop or other.stop


class CatalogPipeline(Pipeline):
    def full_due(self) -> bool:
        if self.sync.full_catalog_every_h <= 0:
            return False
        last = self.state.kv.get("catalog_last_full")
        if last is None:
            return True
        elapsed = time.time() - float(last)
        # a last full run "in the future" is a clock set back: one is due (it is harmless)
        return elapsed < 0 or elapsed >= self.sync.full_catalog_every_h * 3600

    async def since(self) -> float | None:
        """Where an incremental catalog starts: the start of the last successful sync minus
        a safety overlap (None: from the beginning)."""
        last = await self.state.call(self.state.kv.get, "catalog_since")
        if not last:
            return None
        # never later than now (a clock set back): an earlier start only lists more
        return min(float(last), time.time()) - self.sync.incremental_overlap_s

    async def run(self, trigger: str = "schedule", full: bool = False) -> RunResult:
        """Read the ERP, stage what changed, check it against the catastrophe guard (and
        the merchant's approval of a held run, if any), push it, then settle the run: its
        errors, its cursors and its record (stage -> guard -> push -> settle)."""
        run = await self._begin(trigger, full)
        end = await self._stage_guard_push(run)
        return await self._settle(run, end)

    async def _begin(self, trigger: str, full: bool) -> CatalogRun:
        """Open the run: full or not, where an incremental listing starts, an empty staging."""
        full = full or await self.state.call(self.full_due)
        incremental = self.erp.capabilities.incremental_catalog and not full
        since = await self.since() if incremental else None
        started = time.time()
        run_id = await self.recorder.start(PIPELINE, trigger)
        run = CatalogRun(
            run_id,
            full,
            since,
            started,
            requests_before=self.store.requests + self.erp.requests,
            result=RunResult(PIPELINE),
        )
        await self.state.call(self.state.staging.clear)
        run.refused_before = await self.state.call(load_refused, self.state)
        return run

    async def _stage_guard_push(self, run: CatalogRun) -> RunEnd:
        """The three stages that talk to the ERP and the store; how the run ended."""
        try:
            await self._stage(run)
        except BridgeError as exc:
            self._health("erp", exc)
            return Stopped("erp", exc)
        why = await self._guard(run)
        if why is not None:
            return Held(why)
        try:
            await self._push_staged(run)
        except BridgeError as exc:
            self._health("store", exc)
            return Stopped("store", exc)
        self._health("store")
        return Pushed()

    async def _stage(self, run: CatalogRun) -> None:
        """Stage: the ERP's listing, page by page, into the staging table (what changed
        from what was pushed, or everything for a full run); a whole listing also stages
        what it no longer lists as gone. Raises the ERP's BridgeError."""
        async for page in self.erp.catalog(since=run.since):
            await self._stage_page(page, run)
        if run.since is not None:
            await self._restage_refused(run)
        run.read_s = time.time() - run.started
        self._health("erp")
        if run.since is None:
            # a whole listing: what it no longer lists is gone (incremental lists only
            # changes)
            run.stats["vanished"] = await self._stage_vanished(run.run_id)

    async def _settle(self, run: CatalogRun, end: RunEnd) -> RunResult:
        """Settle: what the run leaves behind, whatever its end. The source is told whether
        it was pushed; errors are opened or resolved, cursors moved, the held run and the
        merchant's approval cleared as the end says; the run is summed up and recorded."""
        pushed = isinstance(end, Pushed)
        if isinstance(self.erp, CatalogConsumer):
            # sources that consume what they listed (an import folder archives its file)
            await self.erp.catalog_done(pushed)
        if pushed:
            await self._settle_pushed(run)
        if isinstance(end, (Pushed, Held)):
            # an approval is spent by the run that pushed it, or that found things worse
            await self.state.call(forget_approval, self.state)
        await self._settle_unknown(run, pushed)
        if run.stats["vanished"] and pushed:
            self.events.warning(
                PIPELINE,
                "catalog_vanished",
                f"{run.stats['vanished']} SKUs are no longer listed by the ERP; "
                "their stock in the store was set to 0",
            )
        result = run.result
        result.requests = self.store.requests + self.erp.requests - run.requests_before
        if isinstance(end, Stopped):
            await self._settle_stopped(run, end)
        result.status = status_of(end, result.items_failed)
        result.message = self._summary(run, end)
        result.details = {
            "full": run.full,
            "since": run.since,
            "unknown": len(run.unknown),
            **run.stats,
            "duration_s": time.time() - run.started,
            "read_s": run.read_s,
            "held": end.why if isinstance(end, Held) else None,
        }
        self.events.info(
            PIPELINE,
            "catalog_run",
            f"Catalog {result.message}",
            pushed=result.items_ok,
            seen=result.items_seen,
            status=result.status,
        )
        await self.recorder.finish(run.run_id, result)
        if result.status in (RunStatus.OK, RunStatus.PARTIAL):
            await self.state.call(self.state.kv.set, "catalog_last_ok", str(time.time()))
        return result

    async def _settle_pushed(self, run: CatalogRun) -> None:
        """A run that pushed everything it staged: the sides' errors and what it saw fine
        again are resolved, the held run is gone, an incremental listing starts from this
        run next time, and a full one is not due before its interval."""
        await self.state.call(self.state.errors.resolve, PIPELINE, "erp")
        await self.state.call(self.state.errors.resolve, PIPELINE, "store")
        if run.since is None:
            # a whole listing: rows that were bad and are fine (or gone) now are resolved
            # (an incremental listing does not show unchanged bad rows again)
            await self.state.call(
                self.state.errors.resolve_like, PIPELINE, f"{Subject.SKU}:", run.problems
            )
        await self.state.call(self.state.errors.resolve, PIPELINE, HELD_SUBJECT)
        await self.state.call(self.state.kv.set, HELD_KEY, None)
        await self.state.call(self.state.kv.set, HELD_SKUS_KEY, None)
        if self.erp.capabilities.incremental_catalog:
            await self.state.call(self.state.kv.set, "catalog_since", str(run.started))
        if run.full:
            await self.state.call(self.state.kv.set, "catalog_last_full", str(run.started))

    async def _settle_unknown(self, run: CatalogRun, pushed: bool) -> None:
        """SKUs the store did not know (its error and event), or, after a full run that
        pushed everything, that error resolved."""
        unknown = run.unknown
        if unknown:
            total_unknown = (await self.state.call(self.state.pushed.counts))["unknown_in_store"]
            sample = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
            await self.state.call(
                self.state.errors.open,
                PIPELINE,
                UNKNOWN_SUBJECT,
                kind=FailureKind.DATA.value,
                code="sku_unknown_in_store",
                message=f"{total_unknown} SKUs from the ERP do not exist in the store (e.g. "
                f"{sample}); create them in the store to publish them",
            )
            self.events.warning(
                PIPELINE,
                "sku_unknown_in_store",
                f"{len(unknown)} SKUs are not in the store: {sample}",
                skus=unknown[:100],
                count=len(unknown),
            )
        elif pushed and run.full:
            await self.state.call(self.state.errors.resolve, PIPELINE, UNKNOWN_SUBJECT)

    async def _settle_stopped(self, run: CatalogRun, end: Stopped) -> None:
        """A run stopped by a failure of one side: its error (the side's) and event."""
        where = "the store" if end.side == "store" else "the ERP"
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            end.side,
            kind=end.error.kind.value,
            code=end.error.code,
            message=f"Catalog sync stopped: {end.error.message}",
            server_message=end.error.server_message,
        )
        self.events.error(
            PIPELINE,
            "catalog_failed",
            f"Catalog sync stopped ({where}): {end.error.message}; "
            f"{run.result.items_ok} items pushed before that",
        )

    def _summary(self, run: CatalogRun, end: RunEnd) -> str:
        """The run's one line (its record, the log)."""
        result, stats = run.result, run.stats
        # full: everything pushed; otherwise only what changed, of what the ERP listed
        # (all of it, or what changed since a time where the ERP can say so)
        kind = (
            "full"
            if run.full
            else (
                f"changed since {time.strftime('%d/%m %H:%M', time.localtime(run.since))}"
                if run.since
                else "changes only"
            )
        )
        message = (
            f"{kind}: {result.items_seen} variants "
            f"read, {result.items_ok} pushed, {len(run.unknown)} unknown in the store, "
            f"{result.items_failed - stats['refused']} invalid, "
            + (f"{stats['refused']} refused by the store, " if stats["refused"] else "")
            + f"{stats['negative']} negative stock set "
            f"to 0, {stats['zero_price']} without price, {stats['vanished']} no "
            f"longer listed, {result.requests} requests in "
            f"{time.time() - run.started:.1f} s"
        )
        if isinstance(end, Stopped):
            message += f" — stopped: {end.error.message}"
        if isinstance(end, Held):
            message += f" — HELD, nothing pushed: {end.why}"
        return message

    async def _stage_page(self, page: list[CatalogItem | RowProblem], run: CatalogRun) -> None:
        """One page of the ERP's listing into the staging table: rows refused (each an
        error of its SKU), SKUs repeated (the first one counts), the rest compared with
        what was pushed."""
        items: dict[str, CatalogItem] = {}
        bad: list[str] = []
        if run.refused_before:
            run.relisted.update(e.sku for e in page if e.sku in run.refused_before)
        for entry in page:
            if isinstance(entry, CatalogItem):
                problem = numbers.item_problem(entry)  # what target() could not take
                if problem is not None:
                    entry = RowProblem(entry.sku, problem)
            if isinstance(entry, RowProblem):
                subject = str(Subject.sku(entry.sku))
                run.problems.add(subject)
                bad.append(entry.sku)
                run.result.items_failed += 1
                await self.state.call(
                    self.state.errors.open,
                    PIPELINE,
                    subject,
                    kind=FailureKind.DATA.value,
                    code="erp_row_invalid",
                    message=f"SKU {entry.sku}: {entry.message}; it was not pushed to the store",
                )
                # each one is in the error list; the log names the first few of a run
                self._log_capped(
                    run.result.items_failed,
                    "error",
                    "erp_row_invalid",
                    f"SKU {entry.sku}: {entry.message}",
                    "erp_rows_invalid",
                    f"More SKUs than these {EVENTS_PER_RUN} have invalid data in the ERP; "
                    "each one is in the error list, and the run's summary counts them",
                    sku=entry.sku,
                )
            elif entry.sku in items or entry.sku in run.seen:
                self._repeated(entry.sku, run.stats)
            else:
                items[entry.sku] = entry
        if bad:  # listed, even if unusable: not "gone"
            await self.state.call(self.state.pushed.get, bad, run.run_id)
        previous = await self.state.call(self.state.pushed.get, list(items), run.run_id)
        for sku, last in previous.items():
            if last[3] == run.run_id and sku in items:  # listed on an earlier page of this run
                self._repeated(sku, run.stats)
                del items[sku]
        run.seen.update(sku for sku in items if sku not in previous)
        run.result.items_seen += len(items)
        reserved = await self.state.call(self.state.outbox.reserved, list(items), run.started)
        rows: list[tuple[str, int | None, str | None, int | None, str | None, int]] = []
        for item in items.values():
            if item.available < 0:
                run.stats["negative"] += 1
            # checked against bridge.numbers' limits when the page was sorted above
            stock, price = _target(item, reserved.get(item.sku, 0), self.sync.allow_zero_price)
            if price is None:
                run.stats["zero_price"] += 1
            prev = previous.get(item.sku)
            if prev is not None and collapses(item, price, prev[1]):
                run.stats["price_collapses"] += 1
            if run.full or prev is None or prev[0] != stock or prev[1] != (price or ""):
                rows.append(
                    (
                        item.sku,
                        stock,
                        price,
                        prev[0] if prev else None,
                        prev[1] if prev else None,
                        0,
                    )
                )
        if rows:
            await self.state.call(self.state.staging.add, rows)

    async def _restage_refused(self, run: CatalogRun) -> None:
        """An incremental listing: the products the store refused before that the ERP did
        not list again (unchanged since) are staged again with the values refused, so each
        run offers them to the store until it takes them or the ERP changes them."""
        again = {k: v for k, v in run.refused_before.items() if k not in run.relisted}
        if not again:
            return
        previous = await self.state.call(self.state.pushed.get, sorted(again))
        rows: list[tuple[str, int | None, str | None, int | None, str | None, int]] = []
        for sku, (stock, price) in sorted(again.items()):
            prev = previous.get(sku)
            rows.append(
                (sku, stock, price, prev[0] if prev else None, prev[1] if prev else None, 0)
            )
        await self.state.call(self.state.staging.add, rows)

    def _repeated(self, sku: str, stats: dict[str, int]) -> None:
        """A SKU listed twice in a run: the first one counts. The first few of a run are
        logged by name, then one event says more followed; the run's details count them
        all (an ERP that repeats its whole catalog must not flood the log)."""
        stats["repeated"] = stats.get("repeated", 0) + 1
        self._log_capped(
            stats["repeated"],
            "warning",
            "sku_repeated",
            f"The ERP listed SKU {sku} twice; the first one was used",
            "skus_repeated",
            f"The ERP listed more SKUs than these {EVENTS_PER_RUN} twice (the first one of "
            "each was used); the rest of this run's are counted in its details, not logged "
            "one by one",
            sku=sku,
        )

    def _log_capped(
        self,
        nth: int,
        level: str,
        code: str,
        message: str,
        more_code: str,
        more_message: str,
        **data: Any,
    ) -> None:
        """The `nth` event of one kind in a run: the first EVENTS_PER_RUN are logged, then
        one `more_code` event says more followed, then nothing."""
        if nth <= EVENTS_PER_RUN:
            self.events.emit(level, PIPELINE, code, message, **data)
        elif nth == EVENTS_PER_RUN + 1:
            self.events.emit(level, PIPELINE, more_code, more_message)

    async def _stage_vanished(self, run_id: int) -> int:
        vanished = await self.state.call(self.state.pushed.not_seen, run_id)
        if vanished:
            await self.state.call(
                self.state.staging.add,
                [(sku, 0, None, stock, price, 1) for sku, stock, price in vanished],
            )
        return len(vanished)

    async def _guard(self, run: CatalogRun) -> str | None:
        """Guard: the catastrophe guard over the staged changes: None to go ahead, or why
        the run is held. A run the merchant approved goes ahead if it is no worse than what
        they approved."""
        known = (await self.state.call(self.state.pushed.counts))["skus"]
        if known < max(1, self.sync.guard_min_products):
            return None
        factor = self.sync.guard_price_factor
        st = await self.state.call(self.state.staging.stats, factor)
        reasons = []
        if st["zeroed"] > self.sync.guard_zero_share * known:
            reasons.append(
                f"{st['zeroed']} of {known} products would go to stock 0 or "
                f"disappear ({st['vanished']} no longer listed by the ERP)"
            )
        # prices that would change more than the factor, or fall to 0.00 (pushed only where
        # free products are allowed: counted here either way)
        jumps = st["price_jumps"] + (
            0 if self.sync.allow_zero_price else run.stats["price_collapses"]
        )
        if jumps > self.sync.guard_price_share * known:
            reasons.append(
                f"{jumps} prices would change more than {factor:g} times or fall to 0.00"
            )
        if not reasons:
            return None
        why = "; ".join(reasons)
        counted = await self.state.call(self.state.staging.counted, factor)
        given = await self.state.call(approval, self.state)
        approved = given[0] if given is not None else None
        if given is not None and _covered(given[1], counted):
            self.events.warning(
                PIPELINE,
                "catalog_approved_push",
                f"Pushing the changes approved by the user (held run {given[0].run_id}): {why}",
                run=given[0].run_id,
            )
            return None
        examples = await self.state.call(self.state.staging.examples, factor, EXAMPLES)
        await self.state.call(self.state.kv.set, HELD_SKUS_KEY, json.dumps(counted))
        held = HeldRun(
            run.run_id,
            time.time(),
            why,
            known,
            st["zeroed"],
            st["vanished"],
            jumps,
            st["changes"],
            tuple(Change(*e) for e in examples),
        )
        await self.state.call(self.state.kv.set, HELD_KEY, held.to_json())
        worse = (
            f" It changes products the approval of run {approved.run_id} did not cover, "
            "so that approval does not apply."
            if approved is not None
            else ""
        )
        message = (
            f"Catalog sync held, nothing was pushed: {why}. This looks like an ERP "
            f"fault rather than real changes.{worse} Check the ERP; if the changes are "
            f'real, approve them ("Push anyway" in the error list, or `bridge approve '
            f"{run.run_id}`); Retry or the next run checks again"
        )
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            HELD_SUBJECT,
            kind=FailureKind.DATA.value,
            code="catalog_held",
            message=message,
        )
        self.events.error(PIPELINE, "catalog_held", message, run=run.run_id)
        return why

    async def _push_staged(self, run: CatalogRun) -> None:
        """Push: the staged changes in batches, `push_concurrency` at a time. Each batch is
        recorded as pushed as soon as the store accepted it; the rows the store refuses
        are found in a batch it fails (_push_isolating) and each is an error of its own,
        pushed again on its own by the next runs. A failure of the store as a whole stops
        the run, and the rest is pushed next time (it is still different from what was
        pushed)."""
        sem = asyncio.Semaphore(self.sync.push_concurrency)
        failure: list[BaseException] = []
        refused: dict[str, tuple[StockPrice, BridgeError]] = {}
        accepted: set[str] = set()

        async def push(batch: list[StockPrice], known: bool = False) -> None:
            async with sem:
                if failure:
                    return
                try:
                    out = await self._push_isolating(batch, run, known)
                except BaseException as exc:
                    failure.append(exc)
                    run.isolation_left = 0  # the store failed as a whole: no more searches
                    return
                if out.stop is not None:
                    failure.append(out.stop)  # what was found is recorded all the same
            # recorded with the slot free: the next batch is on its way meanwhile
            for part, pushed in out.taken:
                missing = set(pushed.not_found)
                await self.state.call(
                    self.state.pushed.save,
                    [(i.sku, -1 if i.stock is None else i.stock, i.price or "") for i in part],
                    missing,
                )
                accepted.update(i.sku for i in part)
                run.unknown.extend(sorted(missing))
                run.result.items_ok += len(part) - len(missing)
            refused.update((item.sku, (item, why)) for item, why in out.refused)

        after = ""
        tasks: set[asyncio.Task[None]] = set()
        # the products the store refused before go on their own, after the batches: one
        # refused again costs one request, and holds back no other
        alone: list[StockPrice] = []
        completed = False
        try:
            while not failure:
                rows = await self.state.call(self.state.staging.page, after, self.sync.push_batch)
                if not rows:
                    break
                after = rows[-1][0]
                batch: list[StockPrice] = []
                for sku, stock, price in rows:
                    item = StockPrice(sku, stock, price)
                    (alone if sku in run.refused_before else batch).append(item)
                if not batch:
                    continue
                task = asyncio.ensure_future(push(batch))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                # never more than a few batches read ahead of the pushes
                while len(tasks) >= self.sync.push_concurrency * 2:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks:
                await asyncio.gather(*tasks)
            # `push_concurrency` at a time, as the batches
            await asyncio.gather(*(push([item], known=True) for item in alone))
            completed = True
        finally:
            # a run cut short (Bridge closing) did not offer the rest: as a stopped one
            stopped = bool(failure) or not completed
            new = [sku for sku in refused if sku not in run.refused_before]
            if not accepted and new and (len(new) >= STORE_WIDE_REFUSALS or stopped):
                # the store took nothing and refused many, each for a reason of its own:
                # it refuses updates, not these products
                item, why = refused[new[0]]
                for sku in new:
                    del refused[sku]
                if not failure:
                    failure.append(
                        DataError(
                            f"the store refused every update of this sync ({len(new)} "
                            f"products; the first, {item.sku}: {why.message})",
                            code="store_refuses_updates",
                            status=why.status,
                            server_message=why.server_message,
                        )
                    )
                stopped = True
            for item, why in refused.values():
                await self._refused(run, item, why)
            await self._settle_refused(
                run,
                {sku: (item.stock, item.price) for sku, (item, _) in refused.items()},
                accepted,
                stopped=stopped,
            )
        if failure:
            raise failure[0]
        await self.state.call(self.state.staging.clear)

    async def _push_isolating(
        self, batch: list[StockPrice], run: CatalogRun, known: bool = False
    ) -> Pushes:
        """Push `batch`. A batch the store fails in a way one row can bring about
        (row_caused) is split in two and each half pushed: a half that fails while the
        other is taken is split again, down to the row at fault, and everything else goes.
        When both halves fail too, the store is asked whether it is up (`_store_up`) unless
        it refused them (a 4xx: it answered): down, its failure is raised, as is any
        failure of the store as a whole; up, both halves are searched (two rows at fault).
        A batch of one row fails as that row's own when the store refused it (a 4xx), or
        when it is `known` (refused before, pushed on its own after the batches) and the
        store is up. The search spends at most ISOLATION_BUDGET extra pushes a run; what it
        found when that is spent is kept, and the run stops (the rest goes next time)."""
        try:
            return Pushes(taken=[(batch, await self.store.push_stock_prices(batch))])
        except BridgeError as exc:
            if not row_caused(exc):
                raise
            if len(batch) == 1:
                if isinstance(exc, DataError) or (known and await self._store_up(run)):
                    return Pushes(refused=[(batch[0], exc)])
                raise
            return await self._isolate(batch, exc, run)

    async def _isolate(self, batch: list[StockPrice], exc: BridgeError, run: CatalogRun) -> Pushes:
        """`batch` (two rows or more) failed with `exc`: its halves, as _push_isolating says."""
        mid = len(batch) // 2
        out = Pushes()
        tried: list[tuple[list[StockPrice], PushResult | BridgeError]] = []
        for half in (batch[:mid], batch[mid:]):
            if run.isolation_left <= 0:
                out.stop = exc  # the budget is spent: this half waits for the next run
                break
            run.isolation_left -= 1
            try:
                tried.append((half, await self.store.push_stock_prices(half)))
            except BridgeError as failed:
                if not row_caused(failed):
                    raise
                tried.append((half, failed))
        errors = [e for _, e in tried if isinstance(e, BridgeError)]
        choked = [e for e in errors if not isinstance(e, DataError)]
        if len(errors) == 2 and choked and not await self._store_up(run):
            raise choked[0]  # it fails whatever it is sent, and fails a read too: down
        for half, outcome in tried:
            if isinstance(outcome, PushResult):
                out.taken.append((half, outcome))
            elif len(half) == 1:
                out.refused.append((half[0], outcome))
            elif out.stop is None:
                out.add(await self._isolate(half, outcome, run))
        return out

    async def _store_up(self, run: CatalogRun) -> bool:
        """Does the store answer (its connection check, a read)? Asked again after
        PROBE_TTL_S: a store that fails every update it is sent, and answers a read, is
        choking on what it is sent."""
        now = time.monotonic()
        if run.probe is None or now - run.probe[0] > PROBE_TTL_S:
            checks = await self.store.checks()
            run.probe = (now, bool(checks) and all(c.ok for c in checks))
        return run.probe[1]

    async def _refused(self, run: CatalogRun, item: StockPrice, why: BridgeError) -> None:
        """The store refused one product's update: an error of that product, and the log."""
        subject = str(Subject.sku(item.sku))
        run.problems.add(subject)
        run.result.items_failed += 1
        run.stats["refused"] += 1
        await self.state.call(
            self.state.errors.open,
            PIPELINE,
            subject,
            kind=FailureKind.DATA.value,
            code="store_refused_row",
            message=f"SKU {item.sku}: the store refused its stock and price update "
            f"({why.message}); the store still shows what it had. The other products were "
            "updated; this one is offered again, on its own, at each sync until the store "
            "takes it",
            server_message=why.server_message,
        )
        self._log_capped(
            run.stats["refused"],
            "error",
            "store_refused_row",
            f"SKU {item.sku}: the store refused its update ({why.message})",
            "store_refused_rows",
            f"The store refused more products than these {EVENTS_PER_RUN}; each one is in "
            "the error list",
            sku=item.sku,
        )

    async def _settle_refused(
        self,
        run: CatalogRun,
        refused: dict[str, tuple[int | None, str | None]],
        accepted: set[str],
        stopped: bool,
    ) -> None:
        """Keep the products the store refuses (REFUSED_KEY) for the next runs, and
        resolve the refusals that are over: taken by the store, or no longer to push."""
        # stopped, the rest was not offered: what was refused before stays unless taken
        # now; otherwise everything refused before was offered again (listed, or staged
        # again), is unchanged from what the store has, or is gone from a whole listing
        keep = {k: v for k, v in run.refused_before.items() if stopped and k not in accepted}
        keep.update(refused)
        over = [sku for sku in run.refused_before if sku not in keep]
        if over:
            subjects = {str(Subject.sku(sku)) for sku in over}
            ids = [
                e["id"]
                for e in await self.state.call(self.state.errors.open_rows)
                if e["pipeline"] == PIPELINE
                and e["subject"] in subjects
                and e["code"] == "store_refused_row"
            ]
            await self.state.call(self.state.errors.resolve_ids, ids, "succeeded")
        await self.state.call(save_refused, self.state, keep)

    async def sync_sku(self, sku: str) -> RunResult:
        """Update one product now (ERPs with a per-SKU lookup)."""
        result = RunResult(PIPELINE)
        run_id = await self.recorder.start(PIPELINE, "sku")
        req0 = self.store.requests + self.erp.requests
        try:
            if not self.erp.capabilities.sku_lookup:
                raise DataError(
                    "this ERP cannot look up one product; run a catalog sync", code="no_sku_lookup"
                )
            found = await self.erp.lookup_sku(sku)
            if found is None:
                raise DataError(f"SKU {sku} was not found in the ERP", code="sku_not_in_erp")
            if isinstance(found, RowProblem):
                raise DataError(f"SKU {sku}: {found.message}", code="erp_row_invalid")
            reserved = await self.state.call(self.state.outbox.reserved, [sku], time.time())
            stock, price = target(found, reserved.get(sku, 0), self.sync.allow_zero_price)
            push = await self.store.push_stock_prices([StockPrice(sku, stock, price)])
            await self.state.call(
                self.state.pushed.save, [(sku, stock, price or "")], push.not_found
            )
            result.items_seen = 1
            if push.not_found:
                raise DataError(
                    f"SKU {sku} does not exist in the store", code="sku_unknown_in_store"
                )
            result.items_ok = 1
            result.message = f"SKU {sku}: stock {stock}" + (f", price {price}" if price else "")
            await self.state.call(self.state.errors.resolve, PIPELINE, str(Subject.sku(sku)))
            await self.state.call(_forget_refused, self.state, sku)  # its old figures: not again
            self.events.info(
                PIPELINE, "sku_synced", f"Product {sku} updated: {result.message}", sku=sku
            )
        except BridgeError as exc:
            result.status = RunStatus.FAILED
            result.items_failed = 1
            result.message = exc.message
            result.code, result.kind = exc.code, exc.kind.value
            self.events.error(PIPELINE, "sku_sync_failed", exc.message, sku=sku)
        result.requests = self.store.requests + self.erp.requests - req0
        await self.recorder.finish(run_id, result)
        return result

    async def preview(self, examples: list[PreviewProduct] | None = None) -> dict[str, int]:
        """How many store products a sync would change now (nothing is written): the ERP's
        figures against the store's current ones. For the first-run wizard; `examples`
        gets the first few products that would change."""
        current: dict[str, tuple[Any, Any]] = {}
        async for products in self.store.products():
            for p in products:
                current[str(p.get("sku"))] = (p.get("stock"), p.get("price"))
        started = time.time()
        out = {
            "variants": 0,
            "would_change": 0,
            "unknown_in_store": 0,
            "invalid": 0,
            "store_products": len(current),
        }
        async for page in self.erp.catalog():
            items = [e for e in page if isinstance(e, CatalogItem)]
            out["invalid"] += len(page) - len(items)
            reserved = await self.state.call(
                self.state.outbox.reserved, [i.sku for i in items], started
            )
            for item in items:
                out["variants"] += 1
                stock, price = target(item, reserved.get(item.sku, 0), self.sync.allow_zero_price)
                if item.sku not in current:
                    out["unknown_in_store"] += 1
                    continue
                now_stock, now_price = current[item.sku]
                if now_stock != stock or (price is not None and now_price != price):
                    out["would_change"] += 1
                    if examples is not None and len(examples) < PREVIEW_EXAMPLES:
                        examples.append(
                            PreviewProduct(item.sku, now_stock, now_price, stock, price)
                        )
        return out
