"""The vendored-table loader refuses missing, truncated and altered files, naming the file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from search_spaces.nb201 import tables as benchmark_data
from search_spaces.nb201.tables import BenchmarkDataError, load_table, table_names

NB201_TABLES = [
    "nb201_12ep_acc_minibench",
    "nb201_200ep_valacc_ctpe",
    "nb201_latency_help",
    "nb201_test_acc_200ep",
]
# The smallest table keeps these tests fast.
SMALL = "nb201_12ep_acc_minibench"


def _clear_caches() -> None:
    benchmark_data._manifest.cache_clear()
    benchmark_data.load_table.cache_clear()


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the data folder that the loader reads instead of the installed one."""
    copy = tmp_path / "data"
    shutil.copytree(benchmark_data.data_dir(), copy)
    monkeypatch.setattr(benchmark_data, "data_dir", lambda: copy)
    _clear_caches()
    yield copy
    # Drop anything cached from the copy so later tests read the real files again.
    _clear_caches()


def test_table_names_lists_the_nb201_tables() -> None:
    assert set(NB201_TABLES) <= set(table_names())


def test_intact_copy_loads(data_copy: Path) -> None:
    # Positive control: the redirection works, so the failures below come from the damage alone.
    frame = load_table(SMALL)
    assert len(frame) == 15_625
    assert benchmark_data.data_dir() == data_copy


def test_truncated_file_is_refused(data_copy: Path) -> None:
    path = data_copy / f"{SMALL}.csv.xz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(BenchmarkDataError, match=rf"{SMALL}\.csv\.xz.*truncated or altered"):
        load_table(SMALL)


def test_altered_byte_fails_checksum(data_copy: Path) -> None:
    path = data_copy / f"{SMALL}.csv.xz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # same length, so only the checksum can catch it
    path.write_bytes(bytes(blob))
    with pytest.raises(BenchmarkDataError, match=rf"{SMALL}\.csv\.xz fails its checksum"):
        load_table(SMALL)


def test_missing_file_is_refused(data_copy: Path) -> None:
    (data_copy / f"{SMALL}.csv.xz").unlink()
    with pytest.raises(BenchmarkDataError, match=rf"missing: .*{SMALL}\.csv\.xz"):
        load_table(SMALL)


def test_missing_manifest_is_refused(data_copy: Path) -> None:
    (data_copy / "manifest.json").unlink()
    with pytest.raises(BenchmarkDataError, match="manifest missing"):
        load_table(SMALL)


def test_unknown_table_lists_valid_names() -> None:
    expected = r"unknown benchmark table 'nope'; valid: .*nb201_latency_help"
    with pytest.raises(BenchmarkDataError, match=expected):
        load_table("nope")


def test_damage_surfaces_through_the_benchmark(data_copy: Path) -> None:
    from search_spaces.nb201.benchmark import Nb201Benchmark

    path = data_copy / "nb201_latency_help.csv.xz"
    path.write_bytes(path.read_bytes()[:-1])
    bench = Nb201Benchmark()
    with pytest.raises(BenchmarkDataError, match=r"nb201_latency_help\.csv\.xz"):
        bench.values("latency_pixel3")
