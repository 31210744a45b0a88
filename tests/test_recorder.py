"""The run recorder (bridge.recorder): one place where runs are opened and closed, for the
pipelines and for the engine's runs that end outside their pipeline's bookkeeping.
Real state files; one test goes through the engine with the simulators."""

import sqlite3

import pytest

from bridge.errors import AuthError
from bridge.events import EventBus
from bridge.model import RunResult, RunStatus
from bridge.recorder import RUN_SUBJECT, RunRecorder
from bridge.state import State


@pytest.fixture
def state(tmp_path):
    s = State(tmp_path / "state.sqlite3")
    yield s
    s.close()


@pytest.fixture
def recorder(state):
    return RunRecorder(state, EventBus(state))


async def logged(recorder: RunRecorder) -> list[str]:
    """The codes of the events written so far (they are written on the state's thread)."""
    recorder.events.flush()
    return [e["code"] for e in await recorder.state.call(recorder.state.events.since, 0)]


async def test_a_run_is_open_while_it_runs_and_closed_with_what_it_did(state, recorder):
    run_id = await recorder.start("orders", "manual")
    [row] = state.runs.recent()
    assert row["id"] == run_id and row["status"] == RunStatus.RUNNING
    assert state.runs.last("orders") is None  # a run in progress is not the last one
    result = RunResult("orders", RunStatus.PARTIAL, 3, 1, 4, requests=7, message="3 done, 1 failed")
    assert await recorder.finish(run_id, result) is result
    row = state.runs.last("orders")
    assert row is not None and row["id"] == run_id and row["finished_at"] is not None
    assert (row["status"], row["items_ok"], row["items_failed"], row["items_seen"]) == (
        "partial",
        3,
        1,
        4,
    )
    assert (row["requests"], row["message"]) == (7, "3 done, 1 failed")


async def test_a_run_that_raises_is_recorded_failed_with_its_message(state, recorder):
    run_id = await recorder.start("catalog", "schedule")
    message = "The catalog sync stopped on an unexpected error (RuntimeError: boom)"
    result = await recorder.cut("catalog", "internal_error", "run_failed", message)
    assert (result.pipeline, result.status, result.message) == ("catalog", "failed", message)
    row = state.runs.last("catalog")
    assert row is not None and row["id"] == run_id
    assert (row["status"], row["message"]) == (RunStatus.FAILED, message)
    [err] = state.errors.recent()
    assert (err["subject"], err["code"], err["kind"]) == (
        RUN_SUBJECT + "catalog",
        "internal_error",
        "transient",
    )
    assert "run_failed" in await logged(recorder)
    # the next run that ends by itself resolves the cut run's error; the cut one stays
    # failed in the history
    again = await recorder.start("catalog", "schedule")
    await recorder.finish(again, RunResult("catalog", message="120 read"))
    await recorder.ended("catalog")
    assert state.errors.recent() == []
    assert [r["status"] for r in state.runs.recent()] == ["ok", "failed"]


async def test_a_run_cut_at_its_deadline_closes_every_open_run_of_its_pipeline_only(
    state, recorder
):
    cut = await recorder.start("orders", "schedule")
    other = await recorder.start("catalog", "schedule")
    await recorder.cut("orders", "run_timeout", "run_timeout", "did not end within 1 s")
    runs = {r["id"]: r for r in state.runs.recent()}
    assert (runs[cut]["status"], runs[cut]["message"]) == ("failed", "did not end within 1 s")
    assert runs[other]["status"] == "running"


async def test_a_run_stopped_by_a_bridge_error_opens_the_sides_error(state, recorder):
    exc = AuthError("The ERP refused the token", code="unauthorized")
    result = await recorder.failed("catalog", "erp", exc)
    assert (result.status, result.message) == (RunStatus.FAILED, "The ERP refused the token")
    [err] = state.errors.recent()
    assert (err["pipeline"], err["subject"], err["kind"], err["code"]) == (
        "catalog",
        "erp",
        "auth",
        "unauthorized",
    )
    assert "run_failed" in await logged(recorder)


async def test_the_runs_table_keeps_the_status_values_as_text(tmp_path):
    path = tmp_path / "state.sqlite3"
    state = State(path)
    recorder = RunRecorder(state, EventBus(state))
    for status in (RunStatus.OK, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.HELD):
        await recorder.finish(
            await recorder.start("catalog", "manual"), RunResult("catalog", status)
        )
    await recorder.start("orders", "manual")
    state.runs.close_stale()  # what the next start finds still running
    state.close()
    db = sqlite3.connect(path)
    try:
        stored = [s for (s,) in db.execute("SELECT status FROM runs ORDER BY id")]
    finally:
        db.close()
    assert stored == ["ok", "partial", "failed", "held", "interrupted"]
    assert all(type(s) is str and RunStatus(s) for s in stored)


async def test_an_orders_run_that_raises_through_the_engine_is_recorded_failed(
    engine, store_sim, monkeypatch
):
    async def broken():
        raise RuntimeError("a listing nobody foresaw")
        yield []  # an async generator, as the connector's

    monkeypatch.setattr(engine.orders.store, "pending_orders", broken)
    [result] = await engine.sync_now("orders")
    assert result.status is RunStatus.FAILED
    assert "RuntimeError: a listing nobody foresaw" in result.message
    row = await engine.state.call(engine.state.runs.last, "orders")
    assert (row["status"], row["message"]) == ("failed", result.message)
    errors = await engine.state.call(engine.state.errors.recent)
    assert [e["code"] for e in errors if e["subject"] == "run:orders"] == ["internal_error"]
