"""Property-based fuzzing of what users type and feed: arch strings, numbers on the command line, data files.

The property is the CLI's promise for any input: it either works (exit status 0) or prints one line
naming what is wrong and what would be valid (exit status 2), never a traceback. Commands run in
this process, so an uncaught exception fails the test. Work that valid numbers would start (a long
training, a search of 10**20 trials) is replaced by a stub that stops the command once every check
has passed: the numbers' property is that they are checked, not what they then cost.
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nasrlm.cli import main
from search_spaces import get_space

# Few examples each: the suite runs on a busy 2-core machine; hypothesis' database replays past failures.
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW_FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NB201 = get_space("nb201")
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class Reached(Exception):
    """Raised by a stub where the command's real work would begin: every input check passed."""


def run(argv: list[str], capsys) -> tuple[int | str, str, str]:
    """Exit status of ``nasrlm ARGV`` ("reached" where a stub stopped it), stdout and stderr."""
    try:
        code: int | str = main(argv)
    except SystemExit as exit_info:  # argparse's own checks exit from inside the parser
        code = exit_info.code
    except Reached:
        code = "reached"
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int | str, err: str) -> str:
    """Exit status 2 and one error line last on stderr; only argparse's usage may come before it."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.rstrip("\n").splitlines()
    assert lines and ": error: " in lines[-1], err
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), err
    return lines[-1]


# --- arch strings ------------------------------------------------------------------------------------

# Near misses are likelier to reach deep into the parser than random text: pieces of real arch strings.
arch_pieces = st.lists(
    st.sampled_from(["|", "+", "~", "0", "1", "2", "3", "-1", " ", "\n", "\t", "", *OPS, "conv", "|+|", "~0|"]),
    max_size=30,
).map("".join)
real_archs = st.integers(0, NB201.size - 1).map(lambda i: str(NB201.arch(i)))
edited_archs = st.tuples(real_archs, st.integers(0, 200), st.text(max_size=3)).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
)
arch_texts = st.one_of(st.text(max_size=60), arch_pieces, real_archs, edited_archs, st.from_regex(r"\d{1,30}"))


@FUZZ
@given(text=arch_texts)
@example(text="|nor_conv_3x3~0|+|")
@example(text="²")  # a digit to str.isdigit, not to int()
@example(text="9" * 5000)  # longer than int() converts
@example(text=" |none~0|+|none~0|none~1|+|none~0|none~1|none~2| ")
def test_space_parse_gives_an_arch_or_one_line_value_error(text):
    try:
        arch = NB201.parse(text)
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert NB201.parse(str(arch)) == arch and str(arch) == text.strip()


@FUZZ
@given(text=arch_texts)
@example(text="²")
@example(text="9" * 5000)
@example(text="15625")
def test_query_prints_a_valid_arch_or_one_line_error(capsys, text):
    code, out, err = run(["query", "--", text], capsys)
    if code == 0:
        index, arch, values = out.rstrip("\n").split("\t")
        assert str(NB201.arch(int(index))) == arch and values.startswith("acc=")
    else:
        assert_one_line_error(code, err)


# --- numbers on the command line ---------------------------------------------------------------------

number_texts = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(-3, 70_000).map(str),  # around each option's bounds
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-10, 10).map(str),
    st.sampled_from(["", " ", "1e3", "0x10", "+5", "-0", "1_000", "٣", "nan", "inf", "-inf", "9" * 5000]),
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "data.csv").write_text("text,y\nabc,1.0\nabd,2.0\nxyz,3.0\n")
    args = ["fit", "--data", str(folder / "data.csv"), "--out", str(folder / "model"), "--epochs", "1"]
    assert main([*args, "--max-length", "16"]) == 0
    return folder


@pytest.fixture
def stubs(monkeypatch, tmp_path, tiny_model) -> dict[str, str]:
    """Each command's work replaced by :class:`Reached`; paths the commands read and write."""
    import nasrlm.hardware.verify
    import nasrlm.report.runner
    import nasrlm.search.runner
    from nasrlm.rlm.surrogate import Surrogate

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(nasrlm.search.runner, "open_storage", reached)  # after the search's checks, before any trial
    monkeypatch.setattr(Surrogate, "fit", reached)
    monkeypatch.setattr(Surrogate, "predict", reached)
    monkeypatch.setattr(type(NB201), "onnx_texts", reached)  # demo: after sampling, before exporting
    monkeypatch.setattr(nasrlm.hardware.verify, "verify", reached)
    monkeypatch.setattr(nasrlm.report.runner, "run_report", reached)
    (tmp_path / "archs.txt").write_text("6111\n")
    return {"tmp": str(tmp_path), "data": str(tiny_model / "data.csv"), "model": str(tiny_model / "model")}


COMMANDS = {
    "demo": ["demo", "--metrics", "acc"],
    "fit": ["fit", "--data", "{data}", "--out", "{tmp}/model", "--epochs", "1", "--max-length", "16"],
    "predict": ["predict", "--model", "{model}", "--data", "{data}"],
    "search": ["search", "--sampler", "random", "-q", "--out", "{tmp}/search", "--budget", "3"],
    "verify": ["verify", "--archs", "{tmp}/archs.txt", "--no-predict", "--out", "{tmp}/verify"],
    "report": ["report", "--out", "{tmp}/report", "--quiet", "--predictors", "flops"],
}
# Each numeric option; the range of values it takes (None: no upper bound, the value only costs time).
NUMBERS = [
    ("demo", "-n", 1, NB201.size),
    ("demo", "--seed", 0, 2**32 - 1),
    ("fit", "--epochs", 1, None),
    ("fit", "--batch-size", 1, None),
    ("fit", "--max-length", 5, 65_536),
    ("fit", "--lr", 0, 1),  # a float: above 0, at most 1
    ("fit", "--seed", 0, 2**32 - 1),
    ("predict", "--samples", 1, 10_000),
    ("predict", "--seed", 0, 2**32 - 1),
    ("search", "--budget", 1, NB201.size),
    ("search", "--seed", 0, 2**32 - 1),
    ("search", "--heartbeat", 1, 7 * 24 * 3600),
    ("search", "--threads", 1, 1024),
    ("verify", "--threads", 1, 1024),
    ("verify", "--warmup", 0, None),
    ("verify", "--repeats", 1, None),
    ("verify", "--batch-size", 1, 1024),
    ("verify", "--samples", 1, 10_000),
    ("report", "--seeds", 1, None),
    ("report", "--test-size", 2, None),
    ("report", "--rlm-samples", 1, 10_000),
    ("report", "--rlm-epochs", 1, None),
    ("report", "--threads", 1, 1024),
]


def _accepts(text: str, low: float, high: float | None, *, real: bool) -> bool:
    """Whether ``text`` is a value the option should take."""
    try:
        value = float(text) if real else int(text)
    except ValueError:
        return False
    if real:
        return math.isfinite(value) and low < value <= high
    return value >= low and (high is None or value <= high)


@pytest.mark.parametrize(("command", "option", "low", "high"), NUMBERS, ids=[f"{c} {o}" for c, o, _, _ in NUMBERS])
@FUZZ
@given(text=number_texts)
def test_numbers_are_taken_in_range_or_refused_in_one_line(capsys, stubs, command, option, low, high, text):
    argv = [part.format(**stubs) for part in COMMANDS[command]]
    # Python's int() reads "1_000" and "٣" as numbers; so does the CLI, and the check below agrees.
    code, _, err = run([*argv, option, text], capsys)
    if _accepts(text, low, high, real=option == "--lr"):
        assert code in (0, "reached"), err
    else:
        line = assert_one_line_error(code, err)
        assert option in line or option.lstrip("-") in line, line
        assert len(line) < 300, line  # a 5000-digit number is not echoed whole


# --- data files for fit and predict ------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=string.printable + "é漢\u2028", max_size=12),
)
rows = st.lists(
    st.dictionaries(st.sampled_from(["text", "y", "z", "", "text "]), cells, max_size=4), min_size=0, max_size=6
)


def _as_csv(records: list[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(records).to_csv(index=False)


data_files = st.one_of(
    rows.map(lambda records: ("jsonl", "\n".join(json.dumps(r) for r in records))),
    rows.map(lambda records: ("csv", _as_csv(records))),
    st.tuples(st.sampled_from(["jsonl", "csv"]), st.text(max_size=80)),  # not a table at all
    st.tuples(st.sampled_from(["jsonl", "csv"]), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))),
)


@pytest.mark.filterwarnings("ignore:y. clipped")  # the 1e300 example: the CLI says it clips, and goes on
@SLOW_FUZZ
@given(data=data_files)
@example(data=("csv", "text,y\nabc,1\n"))  # one row: nothing to validate on
@example(data=("csv", "text,y\nabc,inf\nabd,2\n"))
@example(data=("csv", "text,y\nabc,1e300\nabd,-1e300\n"))
@example(data=("jsonl", '{"text": "a", "y": true}\n{"text": "b", "y": false}'))
@example(data=("csv", ""))
def test_fit_and_predict_take_any_file_or_refuse_it_in_one_line(capsys, tmp_path_factory, tiny_model, data):
    suffix, content = data
    folder = tmp_path_factory.mktemp("data")
    path = folder / f"data.{suffix}"
    path.write_text(content, encoding="utf-8")
    for argv in (
        ["fit", "--data", str(path), "--out", str(folder / "model"), "--epochs", "1", "--max-length", "16"],
        ["predict", "--model", str(tiny_model / "model"), "--data", str(path), "--samples", "2"],
    ):
        code, _, err = run(argv, capsys)
        if code != 0:
            assert_one_line_error(code, err)
