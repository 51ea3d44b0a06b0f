"""Bad input to any command: one line that names what is wrong (and what would do), exit status 2.

Each row is a command, the input that is wrong in it, and the message expected. The commands run
in this process, so a traceback would fail the test as an uncaught exception.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nasrlm.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch) -> dict[str, str]:
    """Paths the rows refer to: good and bad data files, an existing file, a folder it cannot write in."""
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data.csv").write_text("text,y\nabc,1.0\nabd,2.0\n")
    (tmp_path / "no_text.csv").write_text("text,y\nabc,1.0\n,2.0\nabd,3.0\n")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("a user's file, not to be replaced\n")
    (tmp_path / "archs.txt").write_text("6111\n")
    if os.geteuid() == 0:  # root writes through permission bits; a sysfs folder refuses new files even so
        read_only = "/sys"
    else:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        read_only = str(folder)
    # A device measured on architecture 0 only, as `nasrlm verify --device-name testdev` would leave it.
    from nasrlm.hardware import devices as device_metrics

    device_metrics.record("nb201", "latency_testdev", {0: ("arch-0", 1.5, 0.1, 5)}, {"measurement": "test"})
    return {"tmp": str(tmp_path), "file": str(tmp_path / "notes.txt"), "ro": read_only}


FIT = ["fit", "--data", "{tmp}/data.csv", "--out", "{tmp}/model"]
PREDICT = ["predict", "--model", "{tmp}/model", "--data", "{tmp}/data.csv"]
SEARCH = ["search", "--sampler", "random", "--budget", "3", "-q"]
VERIFY = ["verify", "--archs", "{tmp}/archs.txt", "--no-predict", "--warmup", "0", "--repeats", "1"]

CASES = [
    # numbers that must be positive
    ([*FIT, "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    ([*FIT, "--epochs", "ten"], "argument --epochs: expected a whole number of at least 1, got 'ten'"),
    ([*FIT, "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    ([*FIT, "--max-length", "0"], "argument --max-length: must be from 5 to 65,536, got 0"),
    ([*FIT, "--max-length", "100000000"], "argument --max-length: must be from 5 to 65,536, got 100000000"),
    ([*FIT, "--lr", "nan"], "argument --lr: must be above 0 and at most 1, e.g. 1e-3, got 'nan'"),
    (["demo", "--seed", "-1"], "argument --seed: must be from 0 to 4,294,967,295, got -1"),
    (["demo", "-n", "20000"], "-n 20,000 is more than the 15,625 architectures of nb201; give fewer"),
    (["query", "²"], "invalid NB201 arch string '²'"),
    (["query", "9" * 50], "index '9999999999999999999999999999999999999999'... (50 characters) out of range"),
    ([*PREDICT, "--samples", "0"], "argument --samples: must be from 1 to 10,000, got 0"),
    (["demo", "-n", "0", "--show-text"], "argument -n: must be at least 1, got 0"),
    (["demo", "-n", "-3"], "argument -n: must be at least 1, got -3"),
    ([*SEARCH, "--budget", "0"], "argument --budget: must be at least 1, got 0"),
    ([*SEARCH, "--threads", "0"], "argument --threads: must be from 1 to 1,024, got 0"),
    ([*SEARCH, "--heartbeat", "0"], "argument --heartbeat: must be from 1 to 604,800, got 0"),
    ([*VERIFY, "--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
    ([*VERIFY, "--warmup", "-1"], "argument --warmup: must be at least 0, got -1"),
    (["report", "--threads", "0"], "argument --threads: must be from 1 to 1,024, got 0"),
    (["report", "--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
    (["report", "--test-size", "1"], "argument --test-size: must be at least 2, got 1"),
    ([*SEARCH, "--budget", "15626"], "budget 15,626 is more than the 15,625 architectures of space 'nb201'"),
    ([*SEARCH, "--seed", "4294967296"], "argument --seed: must be from 0 to 4,294,967,295, got 4294967296"),
    # inputs that do not exist or hold nothing
    ([*FIT, "--init", "/nonexistent"], "--init /nonexistent: not a saved nasrlm surrogate"),
    (["fit", "--data", "{tmp}/no_text.csv", "--out", "{tmp}/model"], "1 row(s) have no text in column 'text' (row 2"),
    ([*PREDICT[:3], "--data", "{tmp}/no_text.csv"], "1 row(s) have no text in column 'text' (row 2"),
    (["onnx-text", "{tmp}/empty.onnx"], "empty.onnx holds no ONNX graph (0 bytes)"),
    (
        ["query", "5", "--metrics", "latency_testdev"],
        "latency_testdev was not measured for 1 architecture(s) (index 5)",
    ),
    ([*SEARCH, "--out", "{tmp}/s", "--sampler", "rlm", "--surrogate", "/nonexistent"], "not a saved nasrlm surrogate"),
    ([*SEARCH, "--storage", "journal:///no/such/dir/x.log"], "folder /no/such/dir does not exist"),
    ([*SEARCH, "--storage", "sqlite:////no/such/dir/x.db"], "folder /no/such/dir does not exist"),
    # --out of every command that writes: an existing file or folder where the other is written ...
    (["onnx-text", "6111", "--out", "{tmp}"], "is a folder; give the path of a file to write"),
    ([*PREDICT, "--out", "{tmp}"], "is a folder; give the path of a file to write"),
    ([*FIT[:-1], "{file}"], "notes.txt is an existing file, not a folder"),
    ([*SEARCH, "--out", "{file}"], "notes.txt is an existing file, not a folder"),
    ([*VERIFY, "--out", "{file}"], "notes.txt is an existing file, not a folder"),
    (["report", "--out", "{file}"], "notes.txt is an existing file, not a folder"),
    ([*VERIFY, "--table", "{tmp}"], "--table {tmp} is a folder"),
    # ... a folder that does not exist for a file ...
    (["onnx-text", "6111", "--out", "{tmp}/missing/cell.txt"], "folder {tmp}/missing does not exist"),
    # ... and a location nothing can be written in.
    (["onnx-text", "6111", "--out", "{ro}/cell.txt"], "cannot write in"),
    ([*PREDICT, "--out", "{ro}/predictions.csv"], "cannot write in"),
    ([*FIT[:-1], "{ro}/model"], "cannot write in"),
    ([*SEARCH, "--out", "{ro}/search"], "cannot write in"),
    ([*VERIFY, "--out", "{ro}/verify"], "cannot write in"),
    (["report", "--out", "{ro}/report"], "cannot write in"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_bad_input_is_one_line_and_exit_status_2(capsys, files, argv, message):
    argv = [part.format(**files) for part in argv]
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own checks exit from inside the parser
        code = exit_info.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert message.format(**files) in err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1, err
    assert Path(files["file"]).read_text() == "a user's file, not to be replaced\n"


def test_a_bad_surrogate_stops_search_before_any_trial(capsys, tmp_path):
    out = tmp_path / "search"
    code = main(["search", "--budget", "3", "-q", "--out", str(out), "--surrogate", str(tmp_path / "nothing")])
    assert code == 2 and "not a saved nasrlm surrogate" in capsys.readouterr().err
    assert not (out / "study.db").exists()  # no study, so no failed trial in it


def test_report_names_the_extra_its_default_predictors_need(capsys, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as after `pip install nasrlm`, without [baselines]
    code = main(["report", "--out", str(tmp_path / "report"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "predictor(s) gbdt need lightgbm from the [baselines] extra" in err
    assert "--predictors rlm,gin,mlp,flops" in err  # what would run as installed
    assert not (tmp_path / "report" / "results.jsonl").exists()


def test_every_error_the_cli_prints_is_a_nasrlm_error():
    from nasrlm.cli import CliError
    from nasrlm.core.errors import NasrlmError
    from nasrlm.hardware.verify import VerifyError
    from nasrlm.report.runner import ReportError

    for error in (CliError, VerifyError, ReportError):
        assert issubclass(error, NasrlmError)


def test_a_library_error_is_one_line_too(capsys, tmp_path):
    (tmp_path / "archs.txt").write_text("# nothing\n")
    code = main(["verify", "--archs", str(tmp_path / "archs.txt"), "--no-predict", "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"nasrlm verify: error: {tmp_path / 'archs.txt'} lists no architectures\n"
