"""The import-folder connector: CSV files from an ERP with no API."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import Paths, load_config, parse_config, save_config
from bridge.engine import Engine
from bridge.model import CatalogItem, RowProblem
from bridge.secrets import SecretStore
from connectors.folder.client import FolderSource, detect_encoding
from connectors.folder.config import FolderConfig
from connectors.kit import parse_text_number
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN

SKUS = [f"ART{i:04d}" for i in range(1, 41)]


@pytest.mark.parametrize(
    "text, comma, value",
    [
        ("12", True, "12"),
        ("1.234,50", True, "1234.50"),
        ("1,234.50", False, "1234.50"),
        ("1234,5", True, "1234.5"),
        ("1234.5", False, "1234.5"),
        ("1.234.567", True, "1234567"),
        ("$ 99,90", True, "99.90"),
        ("-3", True, "-3"),
    ],
)
def test_numbers_with_decimal_comma_or_point(text, comma, value):
    assert parse_text_number(text, comma) == Decimal(value)


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "12x", "inf"])
def test_bad_numbers(bad):
    with pytest.raises(ValueError):
        parse_text_number(bad, True)


def test_encoding_detection(tmp_path):
    (tmp_path / "u.csv").write_text("sku;nombre\nA;Camisón\n", encoding="utf-8")
    (tmp_path / "b.csv").write_bytes("sku;nombre\nA;Camisón\n".encode("utf-8-sig"))
    (tmp_path / "w.csv").write_bytes("sku;nombre\nA;Camisón\n".encode("cp1252"))
    assert detect_encoding(tmp_path / "u.csv") == "utf-8"
    assert detect_encoding(tmp_path / "b.csv") == "utf-8-sig"
    assert detect_encoding(tmp_path / "w.csv") == "cp1252"


@pytest.fixture
async def store_sim():
    sim = StoreSimulator(token=STORE_TOKEN, products=[(s, 1, "100.00") for s in SKUS])
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "exports"
    d.mkdir()
    return d


def make_engine(tmp_path: Path, store_sim, folder: Path, **erp) -> Engine:
    data = {
        "store": {"url": store_sim.base_url},
        "erp": {"kind": "folder", "path": str(folder), "settle_s": 0, **erp},
        "sync": {"catalog_interval_s": 3600, "full_catalog_every_h": 0},
    }
    paths = Paths(tmp_path / "profile" / "config.toml", tmp_path / "profile")
    save_config(parse_config(data), paths.config_file)
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    return Engine(load_config(paths.config_file), paths, secrets, policy=FAST)


def old(path: Path) -> Path:
    t = time.time() - 3600
    os.utime(path, (t, t))
    return path


async def test_spanish_cp1252_file_with_bad_rows(tmp_path, store_sim, folder):
    text = (
        "Código;Descripción;Cantidad;Precio\n"
        "ART0001;Camisón rayado;12;1.234,50\n"
        "ART0002;Pantalón;-3;999,90\n"
        "ART0003;Remera;doce;100\n"
        ";sin código;5;10\n"
        "ART0004;Buzo;7;\n"
        "NOEXISTE;Media;1;1\n"
    )
    (folder / "stock.csv").write_bytes(text.encode("cp1252"))
    old(folder / "stock.csv")
    engine = make_engine(tmp_path, store_sim, folder)
    try:
        [catalog] = await engine.sync_now("all")  # the order pipeline is off
        orders = await engine.run_pipeline("orders")
        assert orders.status == "skipped"
        assert engine.status().orders_enabled is False
        assert "only stock and prices" in engine.status().live.orders_disabled_reason
        assert store_sim.count("orders") == 0
        assert store_sim.products["ART0001"] == {"stock": 12, "price": "1234.50"}
        assert store_sim.products["ART0002"]["stock"] == 0  # negative -> 0
        assert store_sim.products["ART0004"] == {"stock": 7, "price": "100.00"}  # price kept
        assert catalog.items_failed == 2 and catalog.details["unknown"] == 1
        messages = " | ".join(e["message"] for e in engine.state.errors.recent())
        assert "stock.csv, line 4: stock 'doce' is not a number" in messages
        assert "stock.csv, line 5: no SKU" in messages
        # pushed: archived
        assert not (folder / "stock.csv").exists()
        assert (folder / "procesados" / "stock.csv").exists()
    finally:
        await engine.stop()
        engine.close()


async def test_english_comma_utf8_and_column_override(tmp_path, store_sim, folder):
    (folder / "a.csv").write_text("ITEM_CODE,qty,unit price\nART0010,5,10.50\n", encoding="utf-8")
    old(folder / "a.csv")
    engine = make_engine(
        tmp_path, store_sim, folder, columns={"sku": "item_code", "price": "unit price"}
    )
    try:
        await engine.sync_now("catalog")
        assert store_sim.products["ART0010"] == {"stock": 5, "price": "10.50"}
    finally:
        await engine.stop()
        engine.close()


async def test_malformed_file_is_rejected_with_a_clear_error(tmp_path, store_sim, folder):
    (folder / "raro.csv").write_text("nombre;color\nCamisa;rojo\n", encoding="utf-8")
    old(folder / "raro.csv")
    engine = make_engine(tmp_path, store_sim, folder)
    try:
        [result] = await engine.sync_now("catalog")
        assert result.items_failed == 1 and store_sim.patches == []
        [err] = engine.state.errors.recent()
        assert "raro.csv: no SKU column" in err["message"]
        assert (folder / "rechazados" / "raro.csv").exists()
    finally:
        await engine.stop()
        engine.close()


async def test_file_still_being_written_waits(tmp_path, store_sim, folder):
    engine = make_engine(tmp_path, store_sim, folder, settle_s=600)
    f = folder / "nuevo.csv"
    f.write_text("sku;stock\nART0020;9\n", encoding="utf-8")
    try:
        await engine.sync_now("catalog")
        assert store_sim.patches == [] and f.exists()  # modified just now: not yet
        old(f)
        await engine.sync_now("catalog")
        assert store_sim.products["ART0020"]["stock"] == 9
        assert not f.exists()
    finally:
        await engine.stop()
        engine.close()


async def test_store_down_keeps_the_file_for_next_time(tmp_path, store_sim, folder):
    (folder / "s.csv").write_text("sku;stock\nART0030;4\n", encoding="utf-8")
    old(folder / "s.csv")
    engine = make_engine(tmp_path, store_sim, folder)
    try:
        store_sim.faults.script("PATCH", "stock-prices", 503, 503, 503)
        [r1] = await engine.sync_now("catalog")
        assert r1.status == "failed" and (folder / "s.csv").exists()
        await engine.sync_now("catalog")
        assert store_sim.products["ART0030"]["stock"] == 4
        assert not (folder / "s.csv").exists()
    finally:
        await engine.stop()
        engine.close()


async def test_watchdog_notices_a_new_file(tmp_path, store_sim, folder):
    engine = make_engine(tmp_path, store_sim, folder, settle_s=0.2)
    await engine.start()
    try:
        await asyncio.sleep(0.5)
        (folder / "w.csv").write_text("sku;stock;precio\nART0040;33;50,00\n", encoding="utf-8")
        for _ in range(200):
            if store_sim.products["ART0040"]["stock"] == 33:
                break
            await asyncio.sleep(0.05)
        assert store_sim.products["ART0040"] == {"stock": 33, "price": "50.00"}
        assert (
            next(r["trigger"] for r in engine.state.runs.recent() if r["pipeline"] == "catalog")
            == "files"
        )
    finally:
        await engine.stop()
        engine.close()


async def test_huge_file_in_bounded_memory(tmp_path, folder):
    path = folder / "grande.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("sku;stock;precio\n")
        for i in range(100_000):
            fh.write(f"SKU{i:06d};{i % 50};{i % 997},{i % 100:02d}\n")
    old(path)
    size_mb = path.stat().st_size / 2**20
    source = FolderSource(FolderConfig(path=str(folder), settle_s=0))
    tracemalloc.start()
    rows = bad = 0
    async for page in source.catalog():
        rows += sum(isinstance(x, CatalogItem) for x in page)
        bad += sum(isinstance(x, RowProblem) for x in page)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rows == 100_000 and bad == 0
    print(f"100,000-row file ({size_mb:.1f} MB): peak traced memory {peak / 2**20:.1f} MB")
    assert peak < 16 * 2**20  # pages of 500, never the whole file


async def test_out_of_range_numbers_are_errors_of_their_own_rows(tmp_path, store_sim, folder):
    """Before: a stock of 1e19 overflowed SQLite's integers and a price of 1E+400 failed the
    rounding to cents, stopping the run with nothing pushed and the file left in place."""
    text = (
        "sku;stock;precio\n"
        "ART0001;12;100,50\n"
        "ART0002;1e19;10\n"
        "ART0003;5;1E+400\n"
        "ART0004;3;1.000.000.000.000.000,00\n"
        "ART0005;-99999999999;1\n"
        "ART0006;7;20\n"
    )
    (folder / "stock.csv").write_text(text, encoding="utf-8")
    old(folder / "stock.csv")
    engine = make_engine(tmp_path, store_sim, folder)
    try:
        [catalog] = await engine.sync_now("catalog")
        assert catalog.status == "partial", catalog.message
        assert catalog.items_failed == 4
        errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
        assert (
            "stock.csv, line 3: stock is 1E+19, beyond the ±1,000,000,000 units"
            in errors["sku:ART0002"]
        )
        assert (
            "stock.csv, line 4: price is 1E+400, more than the 1,000,000,000,000"
            in errors["sku:ART0003"]
        )
        assert "stock.csv, line 5: price is 1000000000000000.00, more than" in errors["sku:ART0004"]
        assert "stock.csv, line 6: stock is -99999999999, beyond" in errors["sku:ART0005"]
        assert store_sim.products["ART0001"] == {"stock": 12, "price": "100.50"}
        assert store_sim.products["ART0006"] == {"stock": 7, "price": "20.00"}
        assert store_sim.products["ART0002"] == {"stock": 1, "price": "100.00"}  # untouched
        assert (folder / "procesados" / "stock.csv").exists()
    finally:
        await engine.stop()
        engine.close()
