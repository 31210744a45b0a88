"""The record of pipeline runs, kept in one place for the pipelines and the engine.

A run is opened when its pipeline starts it (`start`) and closed with what it did
(`finish`). A run that ends outside its pipeline's own bookkeeping is closed here too:
cut at its deadline or by an unexpected error (`cut`: its record closed as failed, an
error `run:<pipeline>` open until a run of that pipeline ends by itself, the event
logged), stopped by a BridgeError outside any one item (`failed`), or unable to write the
state file at all (`unwritable`: nothing more can be recorded).
"""

from __future__ import annotations

import contextlib

from bridge.errors import BridgeError, FailureKind
from bridge.events import EventBus
from bridge.files import StorageError
from bridge.model import RunResult, RunStatus
from bridge.state import State

# the error of a pipeline whose run was cut (its deadline, an unexpected error)
RUN_SUBJECT = "run:"


class RunRecorder:
    def __init__(self, state: State, events: EventBus) -> None:
        self.state = state
        self.events = events

    async def start(self, pipeline: str, trigger: str) -> int:
        """Open the record of a run (status `running`); returns its id."""
        return await self.state.call(self.state.runs.start, pipeline, trigger)

    async def finish(self, run_id: int, result: RunResult) -> RunResult:
        """Close the record of run `run_id` with what it did."""
        await self.state.call(
            self.state.runs.finish,
            run_id,
            status=result.status,
            items_ok=result.items_ok,
            items_failed=result.items_failed,
            items_seen=result.items_seen,
            requests=result.requests,
            message=result.message,
        )
        return result

    async def ended(self, pipeline: str) -> None:
        """A run of `pipeline` ended by itself: the error of an earlier cut run is resolved."""
        await self.state.call(self.state.errors.resolve, pipeline, RUN_SUBJECT + pipeline)

    async def cut(self, pipeline: str, code: str, event: str, message: str) -> RunResult:
        """A run that ended outside its pipeline's own bookkeeping (its deadline, an
        unexpected error): its record closed as failed, an error `run:<pipeline>` open (the
        next run that ends by itself resolves it), the event logged."""
        with contextlib.suppress(StorageError):  # a full disk: nothing more to record
            await self.state.call(self.state.runs.interrupt, pipeline, message)
            await self.state.call(
                self.state.errors.open,
                pipeline,
                RUN_SUBJECT + pipeline,
                kind=FailureKind.TRANSIENT.value,
                code=code,
                message=message,
            )
        self.events.error(pipeline, event, message)
        return RunResult(pipeline, RunStatus.FAILED, message=message)

    async def failed(self, pipeline: str, side: str, exc: BridgeError) -> RunResult:
        """A run stopped by a BridgeError raised outside any one item (the price list
        cannot be resolved, say): the error opened for `side`, the event logged."""
        await self.state.call(
            self.state.errors.open,
            pipeline,
            side,
            kind=exc.kind.value,
            code=exc.code,
            message=exc.message,
            server_message=exc.server_message,
        )
        self.events.error(pipeline, "run_failed", exc.message)
        return RunResult(pipeline, RunStatus.FAILED, message=exc.message)

    def unwritable(self, pipeline: str, exc: StorageError) -> RunResult:
        """The state file cannot be written (a full disk): nothing more can be recorded,
        so nothing more is sent; what was under way rolled back. Only the event says so."""
        self.events.error(pipeline, "state_unwritable", exc.message)
        return RunResult(pipeline, RunStatus.FAILED, message=exc.message)
