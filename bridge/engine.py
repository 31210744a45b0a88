"""The engine: one object the CLI, the headless service and the UI all drive.

Its interface is small on purpose, and speaks the plain types of bridge.status:
- status(), status_async(): a Status (one overall state by priority, counts, last runs,
                connections)
- open_errors(), recent_events(), history(), order(), product(): records for the views
- events:       EventBus.subscribe(callback) for the live log
- commands:     sync_now(), request_sync(), pause(), resume(), retry_error(), retry_all(),
                discard_error(), approve_catalog(), apply_config(), start(), stop()

It runs on an asyncio loop (qasync's in the UI) and never imports Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bridge import redact
from bridge.alerts import Alerter
from bridge.catalog import (
    HELD_SUBJECT,
    CatalogPipeline,
    HeldRun,
    approve_held,
    forget_approval,
    held_run,
)
from bridge.catalog import PIPELINE as CATALOG
from bridge.config import Config, ErpConfigBase, Paths, StoreConfig
from bridge.errors import AuthError, BridgeError, ConfigError, DataError, FailureKind
from bridge.events import EventBus
from bridge.files import StorageError
from bridge.http import RetryPolicy
from bridge.model import (
    Calibrating,
    Capabilities,
    ErpConnector,
    Finding,
    RunResult,
    RunStatus,
    StoreConnector,
    Subject,
    Watching,
)
from bridge.orders import PIPELINE as ORDERS
from bridge.orders import OrderPipeline
from bridge.recorder import RunRecorder
from bridge.registry import erp_entry, erp_secrets, make_erp, make_store
from bridge.secrets import SecretStore
from bridge.state import OrderState, OutboxRow, State
from bridge.state.outbox import DiscardUndo
from bridge.status import (
    INFORMATIONAL_CODES,
    CatalogStatus,
    Cause,
    ErrorRecord,
    ErrorsStatus,
    EventRecord,
    FirstSyncPreview,
    History,
    LiveStatus,
    OrderItemRecord,
    OrderRecord,
    OrdersStatus,
    OrderSummary,
    Overall,
    PreviewOrder,
    PreviewProduct,
    ProductRecord,
    RunRecord,
    SearchResult,
    SideStatus,
    Status,
    Today,
    error_cause,
)

log = logging.getLogger("bridge.engine")

PIPELINES = (ORDERS, CATALOG)
# the open error that says the ERP install does not match the settings (writes stopped)
CALIBRATION_SUBJECT = str(Subject("erp", "calibration"))
CALIBRATION_KEY = "calibration"
# while writes are stopped, or when the install could not be asked, it is checked again
# at most this often (s); a passing install is checked again after RECHECK_OK_S (it may be
# upgraded or reconfigured while Bridge runs)
RECALIBRATE_S = 60.0
RECHECK_OK_S = 6 * 3600.0
# the wall clock is compared with the monotonic one this often (s); a difference larger
# than CLOCK_JUMP_S is a clock that was set, or a PC that slept
CLOCK_CHECK_S = 10.0
CLOCK_JUMP_S = 30.0
# how often a pause with an end looks at the wall clock: a PC that slept past the end
# resumes at most this long after it wakes
PAUSE_CHECK_S = 20.0
# on stop, a run in progress gets this long to end before it is cut short (s)
STOP_GRACE_S = 5.0
# a discard can be undone for this long (s)
UNDO_DISCARD_S = 600.0
# the longest text a search looks for
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class ConnectorFactory:
    """How the engine gets its connectors: by default the registry's, from the settings;
    a test passes its own (an in-memory ERP and store)."""

    store: Callable[[StoreConfig, str, RetryPolicy | None], StoreConnector] = make_store
    erp: Callable[[ErpConfigBase, Mapping[str, str], RetryPolicy | None], ErpConnector] = make_erp


class Health:
    """Whether each side (erp, store) answered last time we talked to it. A side that
    answers again after failing is `on_recovered` (its errors' cause is gone)."""

    def __init__(
        self,
        on_change: Callable[[], None] | None = None,
        on_recovered: Callable[[str], None] | None = None,
    ) -> None:
        self.sides = {"erp": SideStatus(None), "store": SideStatus(None)}
        self.on_change = on_change
        self.on_recovered = on_recovered

    def ok(self, side: str) -> None:
        h = self.sides[side]
        if h.ok is not True:
            self.sides[side] = SideStatus(True, "", time.time())
            if self.on_recovered:  # failed before, or rows left from the last session
                self.on_recovered(side)
            if self.on_change:
                self.on_change()

    def failed(self, side: str, exc: BridgeError) -> None:
        h = self.sides[side]
        if h.ok is not False or h.message != exc.message:
            self.sides[side] = SideStatus(
                False, exc.message, time.time(), kind=exc.kind.value, code=exc.code
            )
            if self.on_change:
                self.on_change()


def required_secrets(config: Config) -> list[str]:
    return ["store.token", *erp_secrets(config.erp)]


def create_engine(
    config: Config,
    paths: Paths,
    secrets: SecretStore | None = None,
    *,
    state: State | None = None,
    policy: RetryPolicy | None = None,
    connectors: ConnectorFactory | None = None,
) -> Engine:
    """The one place an Engine is built (CLI, service, tray app, demo, preview)."""
    return Engine(
        config,
        paths,
        secrets if secrets is not None else SecretStore(),
        state=state,
        policy=policy,
        connectors=connectors,
    )


class Engine:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        secrets: SecretStore,
        *,
        state: State | None = None,
        policy: RetryPolicy | None = None,
        connectors: ConnectorFactory | None = None,
    ) -> None:
        self.config = config
        self.connectors = connectors or ConnectorFactory()
        self.paths = paths
        self.secrets = secrets
        self.policy = policy
        self.state = state or State(paths.db_file)
        self.events = EventBus(self.state, keep=config.logging.keep_events)
        self.recorder = RunRecorder(self.state, self.events)
        self.health = Health(self._status_changed, self._side_recovered)
        # why the engine could not be built or started (a token missing, a setting), until
        # it is; shown as the ATTENTION state's cause
        self.problem: BridgeError | None = None
        self._started = False
        # discards the merchant may undo for UNDO_DISCARD_S: error id -> (when, the row)
        self._discards: dict[int, tuple[float, DiscardUndo | None]] = {}
        self.paused = False
        # when a pause ends by itself (wall time, time.time()); None: paused until resumed
        self.paused_until: float | None = None
        self.pause_check_s = PAUSE_CHECK_S
        self.wall_clock: Callable[[], float] = time.time  # what a pause's end is read on
        self._pause_timer: asyncio.Task[None] | None = None
        self.running: dict[str, bool] = dict.fromkeys(PIPELINES, False)
        self.status_listeners: list[Callable[[], None]] = []
        self._locks = {p: asyncio.Lock() for p in PIPELINES}
        self._scheduler: AsyncIOScheduler | None = None
        self.store: StoreConnector | None = None
        self.erp: ErpConnector | None = None
        self._connectors: list[StoreConnector | ErpConnector] = []
        self.orders: OrderPipeline | None = None
        self.catalog: CatalogPipeline | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        # calibration: when it last ran (monotonic; None: not yet with these settings),
        # whether the install answered it, and why writes are stopped (None: they are not)
        self._calibrated_at: float | None = None
        self._calibration_answered = False
        self._write_block: str | None = None
        self._calibration_lock = asyncio.Lock()
        self.clock_check_s = CLOCK_CHECK_S
        # when each pipeline's run in progress began (monotonic), and whether a scheduled
        # run skipped because of it was reported
        self._run_began: dict[str, float] = {}
        self._overrun_told: dict[str, bool] = {}
        self.alerter = Alerter(
            self.state, self.events, secrets, config.alerts, profile=str(paths.data_dir)
        )

    # -- connectors --------------------------------------------------------------------------
    def _secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if not value:
            raise ConfigError(
                f"{name}: not set; run `bridge secrets set {name}`", code="secret_missing"
            )
        return value

    def _build(self) -> None:
        cfg = self.config
        store_token = self._secret("store.token")
        secrets = {n: self._secret(n) for n in erp_secrets(cfg.erp)}
        # one pair of clients per pipeline: the pipelines run side by side, and each run's
        # request count is its own
        make = self.connectors
        store = make.store(cfg.store, store_token, self.policy)
        erp = make.erp(cfg.erp, secrets, self.policy)
        cat_store = make.store(cfg.store, store_token, self.policy)
        cat_erp = make.erp(cfg.erp, secrets, self.policy)
        self._connectors = [store, erp, cat_store, cat_erp]
        self.store, self.erp = store, erp
        self.orders = OrderPipeline(
            self.state,
            self.events,
            store,
            erp,
            cfg.sync,
            self.health,
            writes_blocked=self.writes_blocked,
        )
        self.catalog = CatalogPipeline(
            self.state, self.events, cat_store, cat_erp, cfg.sync, self.health
        )
        if self.problem is not None:
            self.problem = None
            self._status_changed()

    async def _close_connectors(self) -> None:
        for c in self._connectors:
            await c.aclose()
        self._connectors = []
        self.store = self.erp = None

    @property
    def capabilities(self) -> Capabilities:
        return erp_entry(self.config.erp.kind).capabilities

    @property
    def orders_enabled(self) -> bool:
        return bool(self.capabilities.orders)

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Build the connectors (no scheduling): for one-shot CLI commands."""
        await self.state.call(self.state.runs.close_stale)
        # waits recorded in wall time before the clock was set back (while Bridge was off)
        # must not stop orders for that long
        await self.state.call(
            self.state.clamp_wall_times,
            time.time(),
            max(self.config.sync.retry_max_s, self.config.sync.write_settle_s),
        )
        if self.store is None:
            self._build()

    @property
    def started(self) -> bool:
        """start() succeeded and stop() was not called since."""
        return self._started

    async def start(self) -> None:
        """Open and schedule both pipelines; the first runs begin at once. A ConfigError (a
        token missing, a setting) is raised and kept as `problem` (the state says it)
        until apply_config fixes it; then start() again."""
        self._stopping = False
        try:
            await self.open()
        except ConfigError as exc:
            self.problem = exc
            self._status_changed()
            raise
        self._started = True
        self._scheduler = AsyncIOScheduler()
        self._schedule()
        self._scheduler.start()
        self._spawn(self._watch_clock())
        self._watch_source()
        for side, cfg in (("store", self.config.store), ("ERP", self.config.erp)):
            if not cfg.verify_tls:
                self.events.warning(
                    "engine",
                    "tls_unverified",
                    f"TLS certificates of the {side} are NOT verified "
                    f"({side.lower()}.verify_tls = false): acceptable only for "
                    "a server on your own network with a self-signed "
                    "certificate",
                    side=side.lower(),
                )
        self.events.info(
            "engine",
            "engine_started",
            f"Bridge started: orders every {self.config.sync.orders_interval_s:g} s, "
            f"catalog every {self.config.sync.catalog_interval_s:g} s",
        )

    def _watch_source(self) -> None:
        """Sources that can tell when they have something new (an import folder) trigger a
        catalog run themselves; the scheduled runs remain the rescan."""
        erp = self.catalog.erp if self.catalog else None
        if isinstance(erp, Watching):
            erp.watch(lambda: self._spawn(self.run_pipeline(CATALOG, "files")))

    def _schedule(self) -> None:
        assert self._scheduler is not None
        sync = self.config.sync
        jobs = [(CATALOG, sync.catalog_interval_s)]
        if self.orders_enabled:
            jobs.insert(0, (ORDERS, sync.orders_interval_s))
        elif self._scheduler.get_job(ORDERS):
            self._scheduler.remove_job(ORDERS)
        for name, every in jobs:
            # coalesce: runs missed while the PC slept collapse into one; the grace time
            # lets a late run still happen instead of being skipped
            self._scheduler.add_job(
                self._scheduled,
                IntervalTrigger(seconds=every),
                args=[name],
                id=name,
                # 2: a tick during a run that overran its interval reports it (_overrun)
                # instead of being dropped by the scheduler without a word
                replace_existing=True,
                max_instances=2,
                coalesce=True,
                misfire_grace_time=max(30, int(every)),
                next_run_time=None if self.paused else _now_dt(),
            )
        self._scheduler.add_job(
            self.alerter.check,
            IntervalTrigger(seconds=60),
            id="alerts",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=120,
        )

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """No new runs; a run in progress gets `grace_s` to end, then it is cut short and
        recorded as interrupted (an order whose send was cut stays `sending` and is looked
        up in the ERP before any resend, as after a crash)."""
        self._stopping = True
        self._started = False
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        if self._scheduler is not None:
            self._scheduler.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle(), grace_s)
        cut = [p for p in PIPELINES if self._locks[p].locked()]
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # cancels the scheduled runs still going
            self._scheduler = None
        for t in list(self._tasks):
            t.cancel()
        await self._idle()
        if cut:
            with contextlib.suppress(StorageError):  # else the next start records it
                await self.state.call(self.state.runs.close_stale)
            self.events.warning(
                "engine",
                "runs_interrupted",
                f"Stopping cut short the {' and '.join(cut)} run in "
                "progress; it goes on at the next start",
            )
        await self._close_connectors()
        self.events.info("engine", "engine_stopped", "Bridge stopped")
        self.events.flush()

    async def _idle(self) -> None:
        """Until no pipeline runs."""
        for p in PIPELINES:
            async with self._locks[p]:
                pass

    def close(self) -> None:
        self.events.flush()
        self.state.close()

    async def _watch_clock(self) -> None:
        """Waiting runs on the monotonic clock; the scheduler and the retries recorded in
        the state file run on wall time. Compare the two: the clock set back makes those
        waits longer by as much (orders would stop for that hour), so they are moved back
        and the runs rescheduled; a PC that slept (or a clock set forward) syncs now."""
        wall, mono = time.time(), time.monotonic()
        while True:
            await asyncio.sleep(self.clock_check_s)
            w, m = time.time(), time.monotonic()
            jump = (w - wall) - (m - mono)  # how far wall time moved beyond real time
            late = (m - mono) - self.clock_check_s  # asleep, where monotonic time counts it
            wall, mono = w, m
            if jump < -CLOCK_JUMP_S:
                await self._clock_set_back(-jump)
            elif jump > CLOCK_JUMP_S or late > CLOCK_JUMP_S:
                self.events.info(
                    "engine",
                    "clock_jump",
                    f"The computer was asleep or the clock jumped "
                    f"({max(jump, late):.0f} s); syncing now",
                )
                self._reschedule_now()

    async def _clock_set_back(self, by: float) -> None:
        await self.state.call(self.state.shift_wall_times, -by)
        self.events.warning(
            "engine",
            "clock_set_back",
            f"The computer's clock was set back {by:.0f} s; waiting times were "
            "adjusted and syncing goes on",
            seconds=round(by),
        )
        self._reschedule_now()

    def _reschedule_now(self) -> None:
        """Every scheduled job runs now and then at its interval from now (a paused
        Bridge's pipelines stay paused)."""
        if self._scheduler is None:
            return
        now = _now_dt()
        for job in self._scheduler.get_jobs():
            if job.id in PIPELINES and self.paused:
                continue
            job.modify(next_run_time=now)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scheduled(self, pipeline: str) -> None:
        if self.paused:
            return
        if self._locks[pipeline].locked():
            self._overrun(pipeline)
            return
        try:
            await self.run_pipeline(pipeline, "schedule")
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stop() cut the run short and records it; not a failure of the scheduler's job

    def _overrun(self, pipeline: str) -> None:
        """A scheduled run found the last one still running: said once per run when it
        has taken longer than its interval (it ends at its deadline at the latest)."""
        began = self._run_began.get(pipeline)
        if began is None or self._overrun_told.get(pipeline):
            return
        took = time.monotonic() - began
        sync = self.config.sync
        every = sync.orders_interval_s if pipeline == ORDERS else sync.catalog_interval_s
        if took > every:
            self._overrun_told[pipeline] = True
            self.events.warning(
                pipeline,
                "run_overrun",
                f"The {pipeline} sync started {took:.0f} s ago is still "
                f"running (a slow server?); it is stopped after "
                f"{sync.run_deadline_s:g} s if it does not end",
                seconds=round(took),
            )

    # -- commands ----------------------------------------------------------------------------
    async def run_pipeline(
        self, pipeline: str, trigger: str = "manual", full: bool = False
    ) -> RunResult:
        """Run one pipeline now. Runs of one pipeline never overlap: a scheduled run finding
        one in progress is skipped; a manual one waits for it and then runs."""
        lock = self._locks[pipeline]
        if lock.locked() and trigger not in ("manual", "files", "approved"):
            return RunResult(pipeline, RunStatus.SKIPPED, message="already running")
        async with lock:
            if self.store is None:
                self._build()
            self.running[pipeline] = True
            self._run_began[pipeline] = time.monotonic()
            self._overrun_told[pipeline] = False
            self._status_changed()
            deadline = self.config.sync.run_deadline_s
            try:
                async with asyncio.timeout(deadline):
                    if pipeline == ORDERS:
                        assert self.orders is not None
                        result = await self.orders.run(trigger)
                    else:
                        assert self.catalog is not None
                        result = await self.catalog.run(trigger, full=full)
                await self.recorder.ended(pipeline)
            except TimeoutError:
                # what was done is recorded step by step; an order cut mid-send stays
                # `sending` and is looked up in the ERP before anything is sent again
                result = await self.recorder.cut(
                    pipeline,
                    "run_timeout",
                    "run_timeout",
                    f"The {pipeline} sync did not end within {deadline:g} s (a server "
                    "answering very slowly, or far too much to do) and was stopped; it starts "
                    "again at its next interval",
                )
            except StorageError as exc:
                result = self.recorder.unwritable(pipeline, exc)
            except BridgeError as exc:
                # raised outside any item (e.g. the price list cannot be resolved)
                side = "erp" if pipeline == CATALOG else "store"
                result = await self.recorder.failed(pipeline, side, exc)
                if isinstance(exc, (AuthError, ConfigError)):
                    self.health.failed("erp", exc)
            except Exception as exc:
                # a bug, or data nobody foresaw, outside any one item: the run ends as
                # failed, is recorded and reported, and the next one starts as usual
                log.error("%s run: unexpected error", pipeline, exc_info=exc)
                result = await self.recorder.cut(
                    pipeline,
                    "internal_error",
                    "run_failed",
                    f"The {pipeline} sync stopped on an unexpected error "
                    f"({type(exc).__name__}: {redact.redact(str(exc))[:200]}); it starts "
                    "again at its next interval; if it persists, send the diagnostics to "
                    "support",
                )
            finally:
                self.running[pipeline] = False
                self._run_began.pop(pipeline, None)
            self._status_changed()
        if result.status == RunStatus.HELD and self._scheduler is not None:
            self._spawn(self.alerter.check())  # the merchant is asked at once
        if (
            pipeline == ORDERS
            and result.items_ok
            and self._scheduler is not None
            and not self.paused
            and not self._stopping
        ):
            # orders kept coming while this run worked: look again now rather than at the
            # next tick (a run that finished nothing ends the chain)
            self._spawn(self.run_pipeline(ORDERS, "follow-up"))
        return result

    async def sync_sku(self, sku: str) -> RunResult:
        """Update one product now (ERPs that can look one up)."""
        async with self._locks[CATALOG]:
            if self.store is None:
                self._build()
            assert self.catalog is not None
            result = await self.catalog.sync_sku(sku)
        self._status_changed()
        return result

    async def sync_now(self, which: str = "all", full: bool = False) -> list[RunResult]:
        names: tuple[str, ...] = PIPELINES if which == "all" else (which,)
        if not self.orders_enabled:
            names = tuple(n for n in names if n != ORDERS) or names
        return [await self.run_pipeline(p, "manual", full) for p in names]

    def request_sync(self, which: str = "all") -> None:
        """Sync now, in the background (another `bridge` asked, or a button)."""
        self._spawn(self.sync_now(which))

    def pause(self, until: float | None = None) -> None:
        """Stop the scheduled runs; `until` (wall time) resumes them by itself then. Pausing
        again while paused changes only when the pause ends."""
        self.paused_until = until
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        if until is not None:
            self._pause_timer = asyncio.ensure_future(self._resume_at(until))
        if not self.paused:
            self.paused = True
            if self._scheduler is not None:
                for job in self._scheduler.get_jobs():
                    if job.id in PIPELINES:
                        job.pause()
            self.events.info("engine", "paused", "Sync paused")
        self._status_changed()

    async def _resume_at(self, until: float) -> None:
        """Wall time, looked at every `pause_check_s`: a monotonic sleep until the end would
        not count the time the PC slept, and the pause would outlast what was chosen."""
        # and on the monotonic clock too, whichever ends first: a clock set back must not
        # lengthen it (a sleep only ever shortens the monotonic wait's share)
        loop = asyncio.get_running_loop()
        ends = loop.time() + (until - self.wall_clock())
        left = until - self.wall_clock()
        while left > 0:
            await asyncio.sleep(min(self.pause_check_s, left))
            left = min(until - self.wall_clock(), ends - loop.time())
        self._pause_timer = None
        self.resume()

    def resume(self) -> None:
        self.paused_until = None
        if self._pause_timer is not None and self._pause_timer is not asyncio.current_task():
            self._pause_timer.cancel()
        self._pause_timer = None
        if self.paused:
            self.paused = False
            if self._scheduler is not None:
                for job in self._scheduler.get_jobs():
                    if job.id in PIPELINES:
                        job.modify(next_run_time=_now_dt())
            self.events.info("engine", "resumed", "Sync resumed")
            self._status_changed()

    async def retry_error(self, error_id: int) -> bool:
        err = await self.state.call(self.state.errors.get, error_id)
        if not err or err["state"] != "open":
            return False
        subject = Subject.parse(err["subject"])
        # retrying a held catalog run checks the ERP again, with the guard: pushing it is
        # an approval of its own (approve_catalog)
        if str(subject) == CALIBRATION_SUBJECT:
            # check the install again now (the merchant fixed it in the ERP)
            self._calibrated_at = None
        if subject.order_id is not None:
            oid = subject.order_id
            # an order the store changed after it was sent: the merchant accepts what the
            # ERP has, and the store is told it was sent; an order in the ERP the store
            # was not told of yet: told at the next pass
            if not await self.state.call(
                self.state.outbox.requeue, oid
            ) and not await self.state.call(self.state.outbox.accept_late, oid):
                await self.state.call(self.state.outbox.report_now, oid)
        elif subject.sku_code is not None:
            await self.state.call(self.state.pushed.forget, subject.sku_code)
        await self.state.call(self.state.errors.close, error_id, "resolved", "retried")
        self.events.info(err["pipeline"], "retry", f"Retrying: {err['message']}")
        # an incremental ERP lists an unchanged product again only in a full listing
        full = subject.sku_code is not None and bool(self.capabilities.incremental_catalog)
        self._spawn(self.run_pipeline(err["pipeline"], "manual", full))
        return True

    async def held_catalog(self) -> HeldRun | None:
        """The catalog run the guard holds now (why, how much, examples), or None."""
        return await self.state.call(held_run, self.state)

    async def approve_catalog(self, run_id: int) -> HeldRun:
        """The merchant approves held catalog run `run_id` after seeing what it changes:
        the ERP is read again now and pushed if what it changes is what was shown (see
        bridge.catalog.approve_held; a DataError when `run_id` is not the run held now)."""
        held = await self.state.call(approve_held, self.state, run_id)
        self.events.warning(
            CATALOG,
            "catalog_approved",
            f"Held catalog run {run_id} approved by the user ({held.reasons}); "
            "reading the ERP again and pushing it",
            run=run_id,
        )
        self._status_changed()
        self._spawn(self.run_pipeline(CATALOG, "approved"))
        return held

    async def retry_all(self) -> int:
        """Retry every open error, except a held catalog run: pushing one is an approval
        the merchant gives for that run alone, never part of "retry all"."""
        errors = await self.state.call(self.state.errors.recent, "open")
        n = 0
        for err in errors:
            if err["subject"] != HELD_SUBJECT:
                n += await self.retry_error(err["id"])
        return n

    async def discard_error(self, error_id: int, reason: str) -> bool:
        err = await self.state.call(self.state.errors.get, error_id)
        if not err or err["state"] != "open":
            return False
        reason = reason.strip()
        if not reason:
            raise DataError("A discard needs a reason", code="discard_reason")
        oid = Subject.parse(err["subject"]).order_id
        # a sent order is never discarded; a later change of it is (the ERP keeps what was
        # sent): the row as it was is kept, for undo_discard
        undo = None
        if oid is not None:
            undo = await self.state.call(self.state.outbox.discard_undoable, oid, reason)
            row = None if undo is not None else await self.state.call(self.state.outbox.get, oid)
            if row is not None and row.state == OrderState.SENDING:
                # on its way to the ERP right now: a discard would not stop it (its error
                # stays, to be discarded if this attempt fails too)
                return False
        await self.state.call(self.state.errors.close, error_id, "discarded", reason)
        now = time.monotonic()
        self._discards = {i: d for i, d in self._discards.items() if now - d[0] < UNDO_DISCARD_S}
        self._discards[error_id] = (now, undo)
        self.events.info(err["pipeline"], "discarded", f"Discarded ({reason}): {err['message']}")
        self._status_changed()
        return True

    async def undo_discard(self, error_id: int) -> bool:
        """Undo the discard of error `error_id` within UNDO_DISCARD_S: the error is open
        again and its order exactly as it was (never a second row of it). False when it is
        too late, or the order moved on since (the store listed it again, say)."""
        took = self._discards.pop(error_id, None)
        if took is None or time.monotonic() - took[0] >= UNDO_DISCARD_S:
            return False
        undo = took[1]
        if undo is not None and not await self.state.call(self.state.outbox.undo_discard, undo):
            return False
        if not await self.state.call(self.state.errors.reopen, error_id, "discarded"):
            return False
        err = await self.state.call(self.state.errors.get, error_id)
        if err is not None:
            self.events.info(err["pipeline"], "discard_undone", f"Discard undone: {err['message']}")
        self._status_changed()
        return True

    async def apply_config(self, config: Config) -> None:
        """Use a new, already validated config: rebuild the connectors, reschedule."""
        for p in PIPELINES:
            await self._locks[p].acquire()
        try:
            old = self.config
            self.config = config
            self.alerter.config = config.alerts
            await self._close_connectors()
            try:
                self._build()
            except ConfigError:
                self.config = old
                self._build()
                raise
            self._calibrated_at = None  # the new settings are checked before any write
            # an approval of a held catalog run was for what the old settings read
            await self.state.call(forget_approval, self.state)
            if self._scheduler is not None:
                self._schedule()
                self._watch_source()
            # orders held back by bad credentials get another chance
            await self.state.call(self.state.outbox.requeue_failed, FailureKind.AUTH.value)
        finally:
            for p in PIPELINES:
                self._locks[p].release()
        self.events.info("config", "config_applied", "New settings applied")

    # -- calibration -------------------------------------------------------------------------
    async def writes_blocked(self) -> str | None:
        """Why the ERP must not be written to now, or None. The install is calibrated
        before the first write with the current settings, and again (at most every
        RECALIBRATE_S) while writes are stopped."""
        if self._calibrated_at is None:
            due = True
        else:
            age = time.monotonic() - self._calibrated_at
            unsure = self._write_block is not None or not self._calibration_answered
            due = age >= (RECALIBRATE_S if unsure else RECHECK_OK_S)
        if due:
            await self.calibrate()
        return self._write_block

    async def calibrate(self) -> list[Finding] | None:
        """Check the ERP install against the settings (connectors that can), save the
        findings, and stop or resume writes. None when the connector cannot calibrate or
        the install could not be asked (then writes go on as before: they fail by
        themselves, with their own errors, if the install is down)."""
        async with self._calibration_lock:
            if self.store is None:
                self._build()
            erp = self.erp
            if not isinstance(erp, Calibrating):
                self._calibrated_at = time.monotonic()
                self._calibration_answered = True
                return None
            try:
                findings = await erp.calibrate()
            except BridgeError as exc:
                # asked again in RECALIBRATE_S; writes meanwhile fail by themselves if the
                # install is down, or go on under the last result
                self._calibrated_at = time.monotonic()
                self._calibration_answered = False
                self.events.warning(
                    "engine",
                    "calibration_failed",
                    f"Could not check the ERP install against the settings: {exc.message}",
                    error_code=exc.code,
                )
                return None
            self._calibrated_at = time.monotonic()
            self._calibration_answered = True
            await self.state.call(
                self.state.kv.set,
                CALIBRATION_KEY,
                json.dumps(
                    {
                        "at": time.time(),
                        "kind": self.config.erp.kind,
                        "findings": [f.to_json() for f in findings],
                    }
                ),
            )
            await self._apply_calibration(findings)
            return findings

    async def _apply_calibration(self, findings: list[Finding]) -> None:
        blocking = [f for f in findings if f.blocks_writes]
        was = self._write_block
        if blocking:
            parts = [
                f"{f.subject}: {f.message}"
                + (f" (setting {f.setting})" if f.setting and f.setting not in f.message else "")
                for f in blocking
            ]
            self._write_block = "the ERP install does not match the settings — " + "; ".join(parts)
            message = (
                f"Orders are not sent to the ERP: {self._write_block}. Fix the "
                "settings (or the ERP), then retry; stock and prices go on"
            )
            await self.state.call(
                self.state.errors.open,
                ORDERS,
                CALIBRATION_SUBJECT,
                kind=FailureKind.CONFIG.value,
                code="calibration_blocking",
                message=message,
            )
            if was != self._write_block:
                self.events.error(
                    "engine",
                    "calibration_blocking",
                    message,
                    subjects=[f.subject for f in blocking],
                )
        else:
            self._write_block = None
            closed = await self.state.call(self.state.errors.resolve, ORDERS, CALIBRATION_SUBJECT)
            warnings = [f for f in findings if f.status == "warning"]
            if was is not None or closed:
                self.events.info(
                    "engine",
                    "calibration_passed",
                    "The ERP install matches the settings: orders are sent again",
                )
            else:
                self.events.info(
                    "engine",
                    "calibration_ok",
                    f"ERP install checked: {len(findings)} points, {len(warnings)} warnings",
                    warnings=len(warnings),
                )
            for f in warnings:
                self.events.warning(
                    "engine",
                    "calibration_warning",
                    f"ERP install: {f.subject}: {f.message}",
                    subject=f.subject,
                    finding=f.code,
                )
        self._status_changed()

    def last_calibration(self) -> tuple[float, list[Finding]] | None:
        """The findings saved by the last calibration of this profile, and when."""
        raw = self.state.kv.get(CALIBRATION_KEY)
        if not raw:
            return None
        data = json.loads(raw)
        return float(data["at"]), [Finding.from_json(f) for f in data["findings"]]

    # -- a cause gone ------------------------------------------------------------------------
    def _side_recovered(self, side: str) -> None:
        """`side` answers again after failing: the errors it caused clear by themselves."""
        self._spawn(self._clear_cause(side))

    async def _clear_cause(self, side: str) -> None:
        """Resolve the open errors whose cause was `side` down or its credentials rejected
        (a setting stays until it changes), and queue their orders again so that they go
        now, not after their backoff; an orders run follows at once."""
        gone = (f"{side}:down", f"{side}:auth")
        rows = await self.state.call(self.state.errors.open_rows)
        hit = [
            r
            for r in rows
            if error_cause(Subject.parse(str(r["subject"])), str(r["kind"]), str(r["code"])) in gone
        ]
        if not hit:
            return

        def clear_cause_rows() -> tuple[list[int], list[str]]:
            # one call on the state's thread: a discard or a retry in between is not undone
            done = set(self.state.errors.resolve_ids([int(r["id"]) for r in hit], "recovered"))
            oids = [
                oid
                for r in hit
                if int(r["id"]) in done
                and (oid := Subject.parse(str(r["subject"])).order_id) is not None
                and self.state.outbox.requeue(oid, only_failed=True)
            ]
            return sorted(done), oids

        resolved, orders = await self.state.call(clear_cause_rows)
        catalog = any(r["pipeline"] == CATALOG and int(r["id"]) in resolved for r in hit)
        where = "the store" if side == "store" else "the ERP"
        self.events.info(
            "engine",
            "cause_cleared",
            f"{where.capitalize()} answers again: {len(hit)} errors it caused are cleared"
            + (f"; {len(orders)} orders are sent now" if orders else ""),
            side=side,
            errors=len(hit),
            orders=len(orders),
        )
        self._status_changed()
        if self._scheduler is not None and not self.paused and not self._stopping:
            if orders:
                self._spawn(self.run_pipeline(ORDERS, "recovered"))
            if catalog:  # what the stopped catalog run did not push goes now
                self._spawn(self.run_pipeline(CATALOG, "recovered"))

    # -- status ------------------------------------------------------------------------------
    def _status_changed(self) -> None:
        """Tell listeners the status changed; they fetch it (status_async) when they want,
        so no query runs here, on the loop's thread."""
        for fn in list(self.status_listeners):
            try:
                fn()
            except Exception:
                log.exception("status listener failed")

    def overall(self, snap: Status) -> tuple[Overall, Cause | None]:
        """The one state, by the priority bridge.status.Overall documents, and its cause
        (for a side's cause, `count` is the orders waiting)."""
        errors = snap.errors
        orders = snap.orders
        # the orders a side's cause holds back: not yet in the ERP, less those held by a
        # problem of their own (the errors tab counts them under their own rows)
        waiting = max(0, orders.pending + orders.counts.get("failed", 0) - errors.own_orders)
        attention: Cause | None = None
        if self.problem is not None:
            side = "store" if self.problem.message.startswith("store.") else "erp"
            attention = Cause(self.problem.code, side, waiting, self.problem.message)
        for side, h in self.health.sides.items():
            if attention is None and h.ok is False and h.kind in ("auth", "config"):
                attention = Cause(h.code, side, waiting if side == "erp" else 0, h.message)
        if attention is None and errors.to_fix:
            # a cause several share (credentials, a setting), else "items to fix"
            shared = [(n, key) for key, n in errors.by_cause.items() if ":down" not in key]
            if shared:
                _n, key = max(shared)
                side, code = key.split(":", 1)
                code = {"auth": "auth_rejected"}.get(code, code)  # as ui.texts says it
                attention = Cause(code, side, waiting if side == "erp" else 0)
            else:
                attention = Cause("errors", "", errors.to_fix)
        if attention is not None:
            return Overall.ATTENTION, attention
        if self._stopping:
            return Overall.STOPPED, Cause("stopped")
        if self.paused:
            return Overall.PAUSED, Cause("paused")
        for side, h in self.health.sides.items():
            if h.ok is False:
                count = waiting if side == "erp" else 0
                return Overall.RETRYING, Cause(h.code, side, count, h.message)
        down = [(n, key) for key, n in errors.by_cause.items() if key.endswith(":down")]
        if down:
            side = max(down)[1].split(":")[0]
            return Overall.RETRYING, Cause("unreachable", side, waiting if side == "erp" else 0)
        transient = errors.by_kind.get("transient", 0)
        if transient:
            return Overall.RETRYING, Cause("transient", "", transient)
        if any(self.running.values()):
            return Overall.SYNCING, None
        return Overall.IDLE, None

    async def status_async(self) -> Status:
        """status() with its queries on the state's worker thread (for the UI)."""
        snap = await self.state.call(status_snapshot, self.state)
        return self._decorate(snap)

    async def preview_catalog(self) -> dict[str, int]:
        if self.store is None:
            self._build()
        assert self.catalog is not None
        async with self._locks[CATALOG]:
            return await self.catalog.preview()

    async def preview_first_sync(self, orders: int = 10) -> FirstSyncPreview:
        """preview_catalog() with a few of the products it would change, and the store's
        confirmed orders that the first sync would send (nothing is written)."""
        if self.store is None:
            self._build()
        assert self.catalog is not None and self.store is not None
        products: list[PreviewProduct] = []
        async with self._locks[CATALOG]:
            counts = await self.catalog.preview(products)
        shown: list[PreviewOrder] = []
        total = 0
        if self.orders_enabled:
            async for page in self.store.pending_orders():
                for raw in page:
                    total += 1
                    if len(shown) >= orders:
                        continue
                    try:
                        order = self.store.parse_order(raw)
                    except BridgeError:
                        continue  # the first sync reports it in the error list
                    shown.append(
                        PreviewOrder(
                            order.number,
                            order.buyer.business_name,
                            sum(i.quantity for i in order.items),
                            str(order.total),
                        )
                    )
        return FirstSyncPreview(counts, tuple(products), tuple(shown), total)

    def status(self) -> Status:
        return self._decorate(status_snapshot(self.state))

    def _decorate(self, snap: Status) -> Status:
        caps = self.capabilities
        next_run: dict[str, float | None] | None = None
        if self._scheduler is not None:
            next_run = {}
            for p in PIPELINES:
                job = self._scheduler.get_job(p)
                next_run[p] = job.next_run_time.timestamp() if job and job.next_run_time else None
        state, cause = self.overall(snap)
        live = LiveStatus(
            state=state,
            cause=cause,
            paused=self.paused,
            paused_until=self.paused_until if self.paused else None,
            orders_enabled=bool(caps.orders),
            orders_disabled_reason="" if caps.orders else caps.no_orders_reason,
            orders=caps.orders,
            sku_lookup=caps.sku_lookup,
            incremental_catalog=caps.incremental_catalog,
            running=dict(self.running),
            connections=dict(self.health.sides),
            next_run=next_run,
        )
        return dataclasses.replace(snap, live=live)

    # -- records for the views ---------------------------------------------------------------
    async def open_errors(self, limit: int = 500) -> list[ErrorRecord]:
        """The open errors, newest first; a calibration error carries what the calibration
        found, a held catalog run's error what the run would change."""
        rows = await self.state.call(self.state.errors.recent, "open", limit)
        errors = [ErrorRecord.from_row(r) for r in rows]
        out = []
        for e in errors:
            if e.code == "calibration_blocking":
                saved = await self.state.call(self.last_calibration)
                found = tuple(f for f in saved[1] if f.blocks_writes) if saved else ()
                e = dataclasses.replace(e, findings=found)
            elif e.code == "catalog_held":
                e = dataclasses.replace(e, held=await self.held_catalog())
            out.append(e)
        return out

    async def recent_events(self, after_id: int = 0, limit: int = 500) -> list[EventRecord]:
        """The event log's last `limit` lines after `after_id`, oldest first."""
        rows = await self.state.call(self.state.events.since, after_id, limit)
        return [EventRecord.from_row(r) for r in rows]

    async def history(self, runs: int = 200, days: int = 14) -> History:
        recent = await self.state.call(self.state.runs.recent, runs)
        per_day = await self.state.call(self.state.outbox.per_day, days)
        since = _local_midnight(days - 1)
        errors = await self.state.call(self.state.errors.per_day, since)
        updates = await self.state.call(self.state.runs.items_per_day, CATALOG, since)
        return History(
            tuple(RunRecord.from_row(r) for r in recent),
            tuple(per_day),
            tuple((d, errors.get(d, 0)) for d, _n in per_day),
            tuple((d, updates.get(d, 0)) for d, _n in per_day),
        )

    async def today(self) -> Today:
        """Today so far: orders in, those with a problem, the last stock update."""
        orders, bad = await self.state.call(self.state.outbox.taken_since, _local_midnight())
        last = await self.state.call(self.state.runs.last_with_items, CATALOG)
        return Today(
            orders,
            bad,
            last["finished_at"] if last else None,
            int(last["items_ok"]) if last else 0,
        )

    async def order(self, store_order_id: str) -> OrderRecord | None:
        """A store order as Bridge keeps it, with its buyer, items and every event about
        it, or None when it never saw it."""

        def read() -> tuple[OutboxRow | None, dict[str, Any], list[dict[str, Any]]]:
            row = self.state.outbox.get(store_order_id)
            if row is None:
                return None, {}, []
            columns = self.state.outbox.columns(store_order_id)
            return row, columns, self.state.events.for_order(store_order_id)

        row, columns, events = await self.state.call(read)
        if row is None:
            return None
        return _order_record(row, columns, [EventRecord.from_row(e) for e in events])

    async def search(self, text: str, limit: int = 200) -> SearchResult:
        """The whole history searched (on the state's thread): the orders whose number, ERP
        reference, buyer, CUIT/DNI (with or without dashes) or an item's SKU contain
        `text`, and the events whose text has it or that are about those orders; newest
        first, at most `limit` each."""

        def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            # a paste gone wrong must not exceed SQLite's LIKE pattern limit (50,000 bytes)
            wanted = text.strip()[:MAX_SEARCH_CHARS]
            orders = self.state.outbox.search(wanted, limit)
            ids = [str(o["store_order_id"]) for o in orders]
            return orders, self.state.events.search(wanted, limit, ids)

        if not text.strip():
            return SearchResult(text, (), ())
        orders, events = await self.state.call(read)
        return SearchResult(
            text,
            tuple(OrderSummary.from_row(r) for r in orders),
            tuple(EventRecord.from_row(r) for r in events),
        )

    async def product(self, sku: str) -> ProductRecord | None:
        """What Bridge last pushed for `sku` and its open error, or None when it knows
        nothing of it."""
        rows = await self.state.call(self.state.pushed.listing, sku)
        return ProductRecord.from_row(rows[0]) if rows else None

    async def products(self) -> list[ProductRecord]:
        """Every product Bridge pushed or failed to, by SKU (the products view)."""
        rows = await self.state.call(self.state.pushed.listing)
        return [ProductRecord.from_row(r) for r in rows]

    @property
    def rebuilt_note(self) -> str | None:
        """Set when a damaged state file was moved aside and a new one started."""
        note: str | None = self.state.rebuilt_note
        return note

    async def once(self, what: str) -> bool:
        """True the first time `what` is asked on this profile, False ever after (a hint
        the merchant is given once)."""

        def mark() -> bool:
            key = f"once:{what}"
            if self.state.kv.get(key) is not None:
                return False
            self.state.kv.set(key, "1")
            return True

        told: bool = await self.state.call(mark)
        return told

    async def flush(self) -> None:
        """Everything buffered (events) and queued for the state file is written."""
        self.events.flush()
        await self.state.call(lambda: None)  # after the writes queued before it


def _order_record(
    row: OutboxRow,
    columns: Mapping[str, Any] | None = None,
    timeline: list[EventRecord] | None = None,
) -> OrderRecord:
    columns = columns or {}
    payload = row.payload
    buyer = payload.get("buyer")
    buyer = buyer if isinstance(buyer, Mapping) else {}
    lines = payload.get("items")
    items = tuple(
        OrderItemRecord(
            sku=_text(it.get("sku")),
            name=_text(it.get("name")),
            quantity=_text(it.get("quantity")),
            unit_price=_text(it.get("unit_price")),
            subtotal=_text(it.get("subtotal")),
        )
        for it in (lines if isinstance(lines, list) else [])
        if isinstance(it, Mapping)
    )
    return OrderRecord(
        store_order_id=row.store_order_id,
        number=row.number,
        state=row.state.value,
        erp_reference=row.erp_reference,
        attempts=row.attempts,
        failure_kind=row.failure_kind,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        late=row.late,
        buyer_name=_text(buyer.get("business_name")),
        tax_id=_text(buyer.get("tax_id")),
        tax_condition=_text(buyer.get("tax_condition")),
        items=items,
        total=_text(payload.get("total")),
        created_at=columns.get("created_at"),
        error_code=columns.get("error_code"),
        server_message=columns.get("server_message"),
        discard_reason=columns.get("discard_reason"),
        timeline=tuple(timeline or ()),
    )


def _text(value: object) -> str:
    """A value of the store's order as text ("" when it has none)."""
    return "" if value is None else str(value).strip()


def status_snapshot(state: State) -> Status:
    """What `bridge status` shows; needs only the state file, not a running engine."""
    orders = state.outbox.counts()
    last_orders = state.runs.last(ORDERS)
    last_catalog = state.runs.last(CATALOG)
    last_catalog_ok = state.runs.last(CATALOG, "ok")
    errs = state.errors.counts()
    by_cause: dict[str, int] = {}
    to_fix = 0
    own_orders = 0
    for group in state.errors.summary():
        kind, code, n = str(group["kind"]), str(group["code"]), int(group["n"])
        subject = Subject.parse(str(group["subject"]))
        cause = error_cause(subject, kind, code)
        if cause is not None:
            by_cause[cause] = by_cause.get(cause, 0) + n
        elif subject.order_id is not None and kind != "transient":
            own_orders += n
        if kind != "transient" and code not in INFORMATIONAL_CODES:
            to_fix += n
    counts = state.pushed.counts()
    return Status(
        orders=OrdersStatus(
            counts=orders,
            pending=orders["queued"] + orders["sending"] + orders["sent_to_erp"],
            last_run=_run(last_orders),
        ),
        catalog=CatalogStatus(
            last_run=_run(last_catalog),
            last_ok_at=last_catalog_ok["finished_at"] if last_catalog_ok else None,
            items_pushed=last_catalog["items_ok"] if last_catalog else 0,
            skus=counts["skus"],
            unknown_in_store=counts["unknown_in_store"],
        ),
        errors=ErrorsStatus(
            open=sum(errs.values()),
            by_kind=errs,
            recent=tuple(ErrorRecord.from_row(e) for e in state.errors.recent("open", 20)),
            by_cause=by_cause,
            to_fix=to_fix,
            own_orders=own_orders,
        ),
        customers_mapped=state.idmap.count("customer"),
    )


def _run(row: dict[str, Any] | None) -> RunRecord | None:
    return None if row is None else RunRecord.from_row(row)


def _now_dt() -> datetime:
    return datetime.fromtimestamp(time.time()).astimezone()


def _local_midnight(days_back: int = 0) -> float:
    """The start of the local day `days_back` days ago, in wall time."""
    day = datetime.now().date() - timedelta(days=days_back)
    return datetime.combine(day, datetime.min.time()).timestamp()
