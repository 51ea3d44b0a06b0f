"""`nasrlm report --data`: the report on a JSONL/CSV of text and targets (nasrlm.report.text_data).

One tiny report (module fixture: 48 short programs in 12 groups, the RLM at one epoch and 32 tokens,
the two text baselines, group splits of 4 and 8 groups, 2 seeds) backs most tests; the CLI tests use
the baselines only.
"""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from baselines import get_predictor
from baselines.base import Predictor
from nasrlm.cli import main
from nasrlm.report.render import render_report
from nasrlm.report.runner import RlmSettings, load_predictions, load_rows
from nasrlm.report.text_data import (
    TextReportConfig,
    default_train_sizes,
    describe_text,
    load_text_table,
    run_text_report,
)

TARGET = "peak_rss_kb"


def _rows(groups: int = 12, per_group: int = 4, seed: int = 0) -> list[dict]:
    """Programs whose memory grows with their number of allocation lines (a known truth to rank)."""
    rng = random.Random(seed)
    rows = []
    for p in range(groups):
        for k in range(per_group):
            n = rng.randint(1, 30)
            body = "    acc = [0] * len(xs)\n" * n + ("    return sorted(acc)\n" if k % 2 else "    return acc\n")
            memory = 1000.0 + 37.0 * n + 100 * (k % 2) + rng.random() * 20
            rows.append({"text": f"def solve_{p}(xs):\n{body}", TARGET: memory, "problem_id": f"p{p}"})
    return rows


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return _write_jsonl(tmp_path_factory.mktemp("data") / "rows.jsonl", _rows())


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_file):
    table = load_text_table(data_file, [TARGET], group_column="problem_id")
    config = TextReportConfig(table, train_sizes=(4, 8), seeds=2, rlm=RlmSettings(epochs=1, samples=4), max_length=32)
    out = tmp_path_factory.mktemp("report")
    rows = run_text_report(config, out, progress=False)
    render_report(out, rows, config.objectives, describe_text(config), units=("groups", "rows"))
    return out, config, rows


def test_every_run_is_recorded_once(report):
    out, _, rows = report
    keys = sorted((r["predictor"], r["size"], r["seed"]) for r in rows)
    assert keys == sorted((p, n, s) for p in ("rlm", "token_gbdt", "length") for n in (4, 8) for s in (0, 1))
    assert len(load_rows(out)) == len(rows)


def test_group_splits_hold_out_whole_groups_shared_by_every_predictor(report):
    out, config, rows = report
    groups = config.table.groups
    for size in (4, 8):
        for seed in (0, 1):
            runs = [r for r in rows if (r["size"], r["seed"]) == (size, seed)]
            tests = [load_predictions(out, r)["test_idx"] for r in runs]
            for test_idx in tests:
                np.testing.assert_array_equal(test_idx, tests[0])
            train_idx, rest = config.table.split(size, seed)
            np.testing.assert_array_equal(tests[0], rest)
            assert len(set(groups[train_idx])) == size and not set(groups[train_idx]) & set(groups[rest])
            assert len(train_idx) + len(rest) == config.table.size
            assert all(r["n_train"] == len(train_idx) and r["n_test"] == len(rest) for r in runs)
    first = [load_predictions(out, r)["test_idx"] for r in rows if r["predictor"] == "length" and r["size"] == 4]
    assert not np.array_equal(first[0], first[1])  # another seed, other groups


def test_scores_equal_scipy_on_the_saved_predictions(report):
    out, config, rows = report
    truth_all, groups = config.table.values(TARGET), config.table.groups
    for row in rows:
        data = load_predictions(out, row)
        truth, predicted = data[f"true_{TARGET}"], data[f"pred_{TARGET}"]
        np.testing.assert_array_equal(truth, truth_all[data["test_idx"]])
        scores = row["scores"][TARGET]
        assert scores["kendall"] == pytest.approx(kendalltau(truth, predicted)[0], abs=1e-12)
        assert scores["spearman"] == pytest.approx(spearmanr(truth, predicted)[0], abs=1e-12)
        mine = groups[data["test_idx"]]
        within = [kendalltau(truth[mine == g], predicted[mine == g])[0] for g in np.unique(mine)]
        within = [0.0 if np.isnan(tau) else tau for tau in within]  # a constant prediction ranks nothing
        assert scores["group_kendall"] == pytest.approx(np.mean(within), abs=1e-12)
        if row["predictor"] == "rlm":
            for level in (50, 90):
                low, high = data[f"low{level}_{TARGET}"], data[f"high{level}_{TARGET}"]
                inside = np.count_nonzero((truth >= low) & (truth <= high)) / len(truth)
                assert scores[f"cover{level}"] == pytest.approx(inside, abs=1e-12)
            assert row["fit_info"]["epochs"] == 1
        else:
            assert "cover50" not in scores
            assert scores["kendall"] > 0.6  # both baselines see what drives the target: the text's length


def test_report_documents(report):
    out, _, rows = report
    markdown = (out / "report.md").read_text()
    for section in (
        "Rank correlation on held-out rows",
        "Rank correlation within held-out groups",
        "Predicted against true",
        "Calibration of the RLM's uncertainty",
        "Time",
    ):
        assert f"## {section}" in markdown
    group = [r for r in rows if (r["predictor"], r["size"]) == ("length", 8)]
    taus = [r["scores"][TARGET]["kendall"] for r in group]
    assert f"| length | 8 | 2 | {np.mean(taus):.3f} ± {np.std(taus):.3f} |" in markdown
    assert "whole groups of 'problem_id' (12 groups)" in markdown and "| train sizes | 4, 8 groups |" in markdown
    assert "| predictor | N | train rows | fit s |" in markdown  # N counts groups; the rows are shown too
    assert re.search(r"\| rlm \| 8 \| \d+\.\d ± \d+\.\d % \|", markdown)  # 50 % coverage row
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"scatter_{TARGET}.png", "tau_vs_size.png"]
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and not re.search(r'src="(?!data:)', page)


def test_rerun_skips_finished_runs_and_other_data_is_not_reused(report, tmp_path):
    out, config, rows = report
    fitted = []
    assert run_text_report(config, out, progress=False, on_row=fitted.append) == rows and fitted == []
    changed = _write_jsonl(tmp_path / "rows.jsonl", _rows(seed=1))
    other = TextReportConfig(
        load_text_table(changed, [TARGET], group_column="problem_id"),
        predictors=("length",),
        train_sizes=(4,),
        seeds=1,
    )
    assert other.run_key("length") != config.run_key("length")
    run_text_report(other, out, progress=False, on_row=fitted.append)
    assert len(fitted) == 1


def test_cli_random_rows_from_csv(tmp_path, capsys):
    import pandas as pd

    rows = _rows(groups=10, per_group=3)
    data = tmp_path / "rows.csv"
    pd.DataFrame(rows).rename(columns={"text": "source"}).to_csv(data, index=False)
    out = tmp_path / "out"
    argv = ["report", "--data", str(data), "--targets", TARGET, "--text-column", "source"]
    argv += ["--predictors", "token_gbdt,length", "--train-sizes", "10,20", "--seeds", "1", "--test-size", "6"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "report.html").is_file()
    results = load_rows(out)
    assert sorted((r["predictor"], r["size"]) for r in results) == [
        ("length", 10),
        ("length", 20),
        ("token_gbdt", 10),
        ("token_gbdt", 20),
    ]
    for row in results:
        assert row["n_train"] == row["size"] and row["n_test"] == 6
        assert "group_kendall" not in row["scores"][TARGET]
    markdown = (out / "report.md").read_text()
    assert "random rows" in markdown and "within held-out groups" not in markdown and "RLM" not in markdown


def test_table_leaves_out_rows_without_a_target_and_default_sizes(tmp_path):
    rows = _rows(groups=5, per_group=4)
    rows[3][TARGET] = None
    table = load_text_table(_write_jsonl(tmp_path / "rows.jsonl", rows), [TARGET])
    assert table.size == 20 and len(table.usable_rows()) == 19 and 3 not in table.usable_rows()
    assert default_train_sizes(table) == (3, 9)
    train, rest = table.split(9, 0)
    assert len(train) == 9 and len(rest) == 10 and 3 not in set(train) | set(rest)


def test_text_baselines(tmp_path):
    texts = ["x" * n for n in range(1, 41)]
    falling = {"y": 100.0 - np.arange(40, dtype=np.float64)}  # longer text, smaller number: a learned sign
    length = get_predictor("length", seed=0).fit(texts[:30], {"y": falling["y"][:30]})
    predicted = length.predict(texts[30:])["y"]
    assert np.all(np.diff(predicted) < 0)
    tokens = get_predictor("token_gbdt", seed=0, rounds=50).fit(texts[:30], {"y": falling["y"][:30]})
    tokens.save(tmp_path / "tokens.safetensors")
    loaded = Predictor.load(tmp_path / "tokens.safetensors")
    np.testing.assert_array_equal(loaded.predict(texts[30:])["y"], tokens.predict(texts[30:])["y"])
    assert loaded.vocabulary == tokens.vocabulary
    length.save(tmp_path / "length.safetensors")
    np.testing.assert_array_equal(Predictor.load(tmp_path / "length.safetensors").predict(texts[30:])["y"], predicted)
    with pytest.raises(TypeError, match="the length baseline reads text; input 0 is a int"):
        length.predict([3])


def _write_bad(tmp_path):
    good = _rows(groups=4, per_group=2)
    _write_jsonl(tmp_path / "rows.jsonl", good)
    _write_jsonl(tmp_path / "words.jsonl", [{**r, TARGET: "a lot"} for r in good])
    (tmp_path / "broken.jsonl").write_text('{"text": "x", "y": 1\n')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{d}/none.jsonl", "--targets", "y"], "data file not found: {d}/none.jsonl"),
        (["--data", "{d}/broken.jsonl", "--targets", "y"], "cannot read {d}/broken.jsonl as JSON lines"),
        (["--data", "{d}/rows.jsonl"], "--data needs --targets: the numeric columns of {d}/rows.jsonl"),
        (["--data", "{d}/rows.jsonl", "--targets", "rss"], "no target column 'rss'; numeric columns: 'peak_rss_kb'"),
        (
            ["--data", "{d}/words.jsonl", "--targets", TARGET],
            "target column 'peak_rss_kb' of {d}/words.jsonl is not numeric (e.g. 'a lot'); numeric columns: (none)",
        ),
        (["--data", "{d}/rows.jsonl", "--targets", TARGET, "--text-column", "code"], "no text column 'code'"),
        (
            ["--data", "{d}/rows.jsonl", "--targets", TARGET, "--group-column", "problem"],
            "no group column 'problem' (--group-column); columns: 'text', 'peak_rss_kb', 'problem_id'",
        ),
        (
            ["--data", "{d}/rows.jsonl", "--targets", TARGET, "--group-column", "problem_id", "--train-sizes", "3"],
            "train sizes count groups and must lie between 2 and 2 (rows.jsonl has 8 rows with peak_rss_kb "
            "in 4 groups of 'problem_id'); got 3",
        ),
        (
            ["--data", "{d}/rows.jsonl", "--targets", TARGET, "--train-sizes", "2,7"],
            "train sizes count rows and must lie between 2 and 6",
        ),
        (["--data", "{d}/rows.jsonl", "--targets", TARGET, "--train-sizes", "2,x"], "comma-separated integers"),
        (
            ["--data", "{d}/rows.jsonl", "--targets", TARGET, "--predictors", "rlm,gin"],
            "unknown predictor(s) for text gin; valid predictors: rlm, length, token_gbdt",
        ),
        (
            ["--data", "{d}/rows.jsonl", "--targets", TARGET, "--objectives", "acc"],
            "name the columns to predict with --targets",
        ),
        (["--data", "{d}/rows.jsonl", "--targets", TARGET, "--space", "nb201"], "--space is for reports on a search"),
        (["--targets", TARGET], "--targets is for reports on a table of text: add --data rows.jsonl"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message, tmp_path, capsys):
    _write_bad(tmp_path)
    argv = ["report", *(a.replace("{d}", str(tmp_path)) for a in args), "--out", str(tmp_path / "r"), "--quiet"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith("nasrlm report: error: ") and message.replace("{d}", str(tmp_path)) in error
    assert not (tmp_path / "r" / "results.jsonl").exists()
