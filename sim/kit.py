"""Shared machinery for the simulators: an aiohttp server that runs on the caller's loop or
in a thread of its own, injected latency, scripted and random faults, and a request log.

The simulators are real HTTP servers on 127.0.0.1. Tests and `bridge demo` drive them;
nothing here is imported by the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Fault kinds understood by FaultPlan:
#   an int status (409, 500, 503, 401, 429 ...): answer that status without touching state
#   "html":      a 502 with an HTML error page (a proxy in front of the server)
#   "malformed": a 200 whose body is truncated JSON
#   "timeout":   hold the request for `hang_s` seconds before answering normally
#   "reset":     close the connection without answering, state untouched
#   "drop_after": run the request (state changes!) and close the connection before replying
#   "trickle":   run the request, then send the answer one byte every `trickle_s` seconds
FAULT_KINDS = ("html", "malformed", "timeout", "reset", "drop_after", "trickle")


@dataclass
class FaultRule:
    method: str  # "*" for any
    route: str  # lower-case route name as the simulator names it, "*" for any
    kinds: deque[Any]


@dataclass
class FaultPlan:
    """Faults to inject. Scripted faults are consumed in order, one per matching request;
    random rates apply when no scripted fault matched."""

    rules: list[FaultRule] = field(default_factory=list)
    rates: dict[Any, float] = field(default_factory=dict)
    # (text, fault): every request whose path or body holds `text` gets `fault`, never used
    # up (a server that chokes on one order each time it gets it, and answers the rest)
    matches: list[tuple[bytes, Any]] = field(default_factory=list)
    seed: int = 0
    hang_s: float = 30.0
    trickle_s: float = 1.0
    retry_after_s: int = 1
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def script(self, method: str, route: str, *kinds: Any) -> None:
        """Inject `kinds` into the next requests matching method and route, in order."""
        self.rules.append(FaultRule(method.upper(), route.lower(), deque(kinds)))

    def when_request(self, text: str, kind: Any) -> None:
        """Answer `kind` to every request whose path or body holds `text`, each time."""
        self.matches.append((text.encode(), kind))

    def clear(self) -> None:
        self.rules.clear()
        self.rates.clear()
        self.matches.clear()

    def pending(self) -> int:
        return sum(len(r.kinds) for r in self.rules)

    def take(self, method: str, route: str) -> Any | None:
        for rule in self.rules:
            if rule.kinds and rule.method in ("*", method) and rule.route in ("*", route):
                return rule.kinds.popleft()
        for kind, rate in self.rates.items():
            if rate > 0 and self._rng.random() < rate:
                return kind
        return None


@dataclass
class PagingFaults:
    """A server that pages wrongly, for every paginated listing of a simulator:
    `claimed_total` is the total its listings claim whatever they hold (pages past the real
    end are empty, or "no results" where the server says so); `ignore_page` answers every
    page with the first one (the page parameter, or the cursor, is ignored); `repeat_page`
    n answers page n with the rows of page n - 1 (n >= 2); `shuffle` answers each page's
    rows in a random order (with `ignore_page`: the first page, shuffled each time)."""

    claimed_total: int | None = None
    ignore_page: bool = False
    repeat_page: int | None = None
    shuffle: bool = False
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def served(self, asked: int) -> int:
        """The page the server answers when page `asked` (1-based) is asked for."""
        if self.ignore_page:
            return 1
        if self.repeat_page is not None and asked == self.repeat_page and asked >= 2:
            return asked - 1
        return asked

    def total(self, real: int) -> int:
        """The total the server claims for a listing of `real` rows."""
        return real if self.claimed_total is None else self.claimed_total

    def rows(self, rows: list[Any]) -> list[Any]:
        """A page's rows in the order the server answers them."""
        if self.shuffle:
            rows = list(rows)
            self._rng.shuffle(rows)
        return rows


@dataclass
class RequestRecord:
    method: str
    route: str
    path: str
    status: int
    fault: Any = None


class SimServer:
    """Base class of the simulators. Subclasses add routes to `self.app` and name each
    request's route with `route_name(request)` (used by fault rules and counters)."""

    def __init__(self, *, latency_s: float = 0.0, faults: FaultPlan | None = None) -> None:
        self.latency_s = latency_s
        self.faults = faults or FaultPlan()
        # listings that page wrongly (each simulator applies it to its own paging)
        self.paging = PagingFaults()
        self.requests: deque[RequestRecord] = deque(maxlen=20000)
        self.counts: Counter[str] = Counter()
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.host = "127.0.0.1"
        self.port = 0
        # ERPs that refuse concurrent writes (Dragonfish's 409): subclasses switch it on
        self.conflict_on_concurrent_writes = False
        self.write_hold_s = 0.0
        # tests of concurrent writes: the next write holds the slot until another one has
        # found it taken (at most this long), so that two writes do meet however fast or
        # slow the machine is - a fixed hold proves nothing where a request takes longer.
        # One meeting: then it is 0 again and writes go as usual.
        self.hold_write_until_contended_s = 0.0
        self._contended: asyncio.Event | None = None
        self._writing = False

    # -- naming -----------------------------------------------------------------------------
    def route_name(self, request: web.Request) -> str:  # pragma: no cover - overridden
        return request.path.lower()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def count(self, route: str, method: str | None = None) -> int:
        if method:
            return self.counts[f"{method.upper()} {route}"]
        return sum(v for k, v in self.counts.items() if k.split(" ", 1)[1] == route)

    # -- faults -----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self.route_name(request)
        key = f"{request.method} {route}"
        self.counts[key] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = None
        if self.faults.matches:
            # the body is kept: the handler reads it again
            seen = request.path_qs.encode() + (
                await request.read() if request.can_read_body else b""
            )
            fault = next((k for text, k in self.faults.matches if text in seen), None)
        if fault is None:
            fault = self.faults.take(request.method, route)
        record = RequestRecord(request.method, route, request.path_qs, 0, fault)
        self.requests.append(record)
        if fault is None:
            resp = await handler(request)
            record.status = resp.status
            return resp
        if isinstance(fault, int):
            record.status = fault
            return self.fault_response(fault)
        if fault == "html":
            record.status = 502
            return web.Response(
                status=502,
                text="<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway"
                "</h1><p>The proxy server received an invalid response.</p></body></html>",
                content_type="text/html",
            )
        if fault == "malformed":
            record.status = 200
            return web.Response(
                status=200, text='{"data": [{"id": "x", "trunc', content_type="application/json"
            )
        if fault == "timeout":
            # a real server has the request body before it gets slow: a client that gives
            # up (or dies) meanwhile does not stop the work
            await request.read()
            await asyncio.sleep(self.faults.hang_s)
            resp = await handler(request)
            record.status = resp.status
            return resp
        if fault == "reset":
            record.status = -1
            _abort(request)
            raise asyncio.CancelledError
        if fault == "trickle":
            # the whole answer, a byte at a time: each read is quick, the answer never ends
            resp = await handler(request)
            record.status = resp.status
            body = (
                resp.body
                if isinstance(resp, web.Response) and isinstance(resp.body, bytes)
                else b""
            )
            stream = web.StreamResponse(
                status=resp.status,
                headers={
                    "Content-Type": resp.headers.get("Content-Type", "application/json"),
                    "Content-Length": str(len(body)),
                },
            )
            await stream.prepare(request)
            for i in range(len(body)):
                await stream.write(body[i : i + 1])
                await asyncio.sleep(self.faults.trickle_s)
            await stream.write_eof()
            return stream
        if fault == "drop_after":
            resp = await handler(request)
            record.status = -resp.status
            _abort(request)
            raise asyncio.CancelledError
        raise ValueError(f"unknown fault {fault!r}")

    def fault_response(self, status: int) -> web.StreamResponse:
        """The body a subclass's server sends for an injected status. Override for the
        server's own error style."""
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else {}
        return web.json_response(
            {"error": f"http_{status}", "message": f"Injected error {status}"},
            status=status,
            headers=headers,
        )

    # -- the write slot -----------------------------------------------------------------------
    def write_conflict(self) -> Exception:  # pragma: no cover - overridden where used
        """The error, in the server's own style, for a write that finds the slot taken."""
        raise NotImplementedError

    async def hold_write_slot(self, apply: Callable[[], web.StreamResponse]) -> web.StreamResponse:
        """A write holds the server's write slot for `write_hold_s`: one arriving meanwhile
        gets `write_conflict()` and changes nothing."""
        if not self.conflict_on_concurrent_writes:
            return apply()
        if self._writing:
            if self._contended is not None:
                self._contended.set()
            raise self.write_conflict()
        self._writing = True
        try:
            if self.hold_write_until_contended_s:
                wait_s, self.hold_write_until_contended_s = self.hold_write_until_contended_s, 0
                self._contended = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._contended.wait(), wait_s)
                self._contended = None
            elif self.write_hold_s:
                await asyncio.sleep(self.write_hold_s)
            return apply()
        finally:
            self._writing = False

    # -- lifecycle on the caller's loop -----------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.host, self.port = server.sockets[0].getsockname()[:2]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- lifecycle in a thread of its own (for tests that run the bridge as a subprocess, or
    #    that call the bridge from their own loop) --------------------------------------------
    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:  # reported to the caller
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        return self.base_url

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop and return its result (thread-safe state access).
        An exception raised by `fn` is raised here; called from the server's own thread (a
        handler, a task), `fn` simply runs."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn()
        result: list[Any] = []
        error: list[BaseException] = []
        done = threading.Event()

        def wrapper() -> None:
            try:
                result.append(fn())
            except BaseException as exc:  # re-raised in the caller's thread
                error.append(exc)
            finally:
                done.set()

        loop.call_soon_threadsafe(wrapper)
        if not done.wait(10):
            raise TimeoutError(f"{type(self).__name__}: the server loop did not run the call")
        if error:
            raise error[0]
        return result[0]

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def json_body(data: Any, status: int = 200, reason: str | None = None) -> web.Response:
    return web.Response(
        status=status,
        reason=reason,
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
    )
