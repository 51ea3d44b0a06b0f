"""`nasrlm report`: shared splits, scores equal to scipy's, rendered documents, resuming, CLI errors.

One tiny report (module fixture: 4 predictors including the RLM, 2 sizes, 2 seeds, 120 test archs,
short schedules) backs most tests; resuming and the CLI use even cheaper predictors.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from baselines import random_split
from nasrlm.cli import main
from nasrlm.report.render import render_report
from nasrlm.report.runner import ReportConfig, RlmSettings, load_predictions, load_rows, run_report
from search_spaces import get_space

OBJECTIVES = ("acc", "latency_pixel3")
CONFIG = ReportConfig(
    objectives=OBJECTIVES,
    predictors=("flops", "mlp", "gin", "rlm"),
    train_sizes=(30, 60),
    seeds=2,
    test_size=120,
    baseline_epochs=15,
    rlm=RlmSettings(epochs=2, samples=8),
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rows = run_report(CONFIG, out, progress=False)
    render_report(out, rows, OBJECTIVES, {"space": "nb201"})
    return out, rows


def test_every_run_is_recorded_once(report):
    out, rows = report
    keys = [(r["predictor"], r["size"], r["seed"]) for r in rows]
    assert sorted(keys) == sorted((p, n, s) for p in CONFIG.predictors for n in (30, 60) for s in (0, 1))
    assert len(load_rows(out)) == len(rows)


def test_predictors_share_splits_and_test_on_held_out_archs(report):
    out, rows = report
    for size in CONFIG.train_sizes:
        for seed in range(CONFIG.seeds):
            train, rest = random_split(get_space("nb201").size, size, seed)
            tests = [load_predictions(out, r)["test_idx"] for r in rows if (r["size"], r["seed"]) == (size, seed)]
            assert len(tests) == len(CONFIG.predictors)
            for test_idx in tests:
                np.testing.assert_array_equal(test_idx, tests[0])
            assert len(tests[0]) == CONFIG.test_size and set(tests[0]) <= set(rest)
            assert not set(tests[0]) & set(train)
    # Another seed, another split.
    first = [load_predictions(out, r)["test_idx"] for r in rows if r["predictor"] == "flops" and r["size"] == 30]
    assert not np.array_equal(first[0], first[1])


def test_scores_equal_scipy_on_the_saved_predictions(report):
    out, rows = report
    space = get_space("nb201")
    for row in rows:
        data = load_predictions(out, row)
        for objective in OBJECTIVES:
            truth = space.values(objective)[data["test_idx"]]
            np.testing.assert_array_equal(data[f"true_{objective}"], truth)
            predicted = data[f"pred_{objective}"]
            scores = row["scores"][objective]
            assert scores["kendall"] == pytest.approx(kendalltau(truth, predicted)[0], abs=1e-12)
            assert scores["spearman"] == pytest.approx(spearmanr(truth, predicted)[0], abs=1e-12)
            if objective.startswith("latency_"):
                share = np.sum(np.abs(predicted / truth - 1) <= 0.1) / len(truth)
                assert scores["within10"] == pytest.approx(share, abs=1e-12)
            if row["predictor"] == "rlm":
                for level in (50, 90):
                    low, high = data[f"low{level}_{objective}"], data[f"high{level}_{objective}"]
                    inside = np.count_nonzero((truth >= low) & (truth <= high)) / len(truth)
                    assert scores[f"cover{level}"] == pytest.approx(inside, abs=1e-12)
                assert np.all(data[f"low90_{objective}"] <= data[f"low50_{objective}"])
                assert np.all(data[f"low50_{objective}"] <= data[f"high50_{objective}"])
                assert np.all(data[f"high50_{objective}"] <= data[f"high90_{objective}"])
                # The point is the decoded median, the intervals the quantiles of 8 samples of a model
                # trained 2 epochs: it lies inside most of its 90 % intervals, not each one.
                inside90 = (data[f"low90_{objective}"] <= predicted) & (predicted <= data[f"high90_{objective}"])
                assert inside90.mean() >= 0.8
            else:
                assert "cover50" not in scores


def test_predictions_come_from_the_predictors(report):
    out, rows = report
    space = get_space("nb201")
    for row in rows:
        data = load_predictions(out, row)
        if row["predictor"] == "flops":  # the proxy predicts the arch's FLOPs for every objective
            np.testing.assert_array_equal(data["pred_acc"], space.values("flops")[data["test_idx"]])
        else:  # trained models: real, varied predictions in the targets' range
            assert np.isfinite(data["pred_acc"]).all() and np.ptp(data["pred_acc"]) > 0
            assert 0 < np.median(data["pred_latency_pixel3"]) < 10 * space.values("latency_pixel3").max()
        assert row["fit_s"] >= 0 and row["predict_s"] > 0 and row["n_test"] == CONFIG.test_size


def test_rlm_predictor_follows_the_protocol_and_saves_as_a_surrogate(tmp_path):
    from nasrlm.core.predictor import Predictions, PredictorProtocol
    from nasrlm.predictors.rlm import RlmPredictor
    from nasrlm.rlm.surrogate import Surrogate

    archs = get_space("nb201").archs()[100:106]
    shipped = Surrogate.pretrained()  # predicts its own objectives without fitting
    predictor = RlmPredictor.for_space("nb201", seed=1, surrogate=shipped, objectives=["flops"], samples=3)
    assert isinstance(predictor, PredictorProtocol) and predictor.fitted
    before = predictor.predict(archs, return_std=True)
    assert isinstance(before, Predictions) and before.samples["flops"].shape == (6, 3)
    # The point is the decoded median, here (a sure model) the samples' median; the samples are spread
    # within their last digit.
    np.testing.assert_allclose(before.point["flops"], np.median(before.samples["flops"], axis=1), rtol=1e-3)
    np.testing.assert_array_equal(predictor.predict(archs)["flops"], before.point["flops"])
    assert np.all(before.std["flops"] >= 0) and set(before.interval(0.5)) == {"flops"}
    predictor.save(tmp_path / "model")
    Surrogate.load(tmp_path / "model")  # the surrogate's own folder format
    loaded = RlmPredictor.load(tmp_path / "model")
    assert (loaded.objectives, loaded.seed, loaded.space) == (("flops",), 1, "nb201")
    assert loaded.settings == predictor.settings
    after = loaded.predict(archs, return_std=True)
    np.testing.assert_array_equal(after.samples["flops"], before.samples["flops"])
    with pytest.raises(ValueError, match="at least one architecture"):
        loaded.predict([])


def test_rendered_tables_show_the_scipy_numbers(report):
    out, rows = report
    markdown = (out / "report.md").read_text()
    for name in CONFIG.predictors:
        for size in CONFIG.train_sizes:
            group = [r for r in rows if (r["predictor"], r["size"]) == (name, size)]
            cells = []
            for objective in OBJECTIVES:
                for function in (kendalltau, spearmanr):
                    values = []
                    for row in group:
                        data = load_predictions(out, row)
                        values.append(function(data[f"true_{objective}"], data[f"pred_{objective}"])[0])
                    cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
            assert f"| {name} | {size} | 2 | " + " | ".join(cells) + " |" in markdown
    for section in ("Latency within ±10 %", "Calibration of the RLM's uncertainty", "Time"):
        assert f"## {section}" in markdown
    assert re.search(r"\| rlm \| 60 \| \d+\.\d ± \d+\.\d % \|", markdown)  # 50 % coverage row


def test_report_files_are_self_contained(report):
    out, _ = report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["scatter_acc.png", "scatter_latency_pixel3.png", "tau_vs_size.png"]
    for name in pngs:
        assert (out / name).read_bytes().startswith(b"\x89PNG")
        assert f"]({name})" in (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert not re.search(r'src="(?!data:)', page)  # no link to any other file
    assert "<table>" in page and "Kendall" in page


def test_rerun_skips_finished_runs(report):
    out, rows = report
    before = (out / "results.jsonl").read_bytes()
    fitted = []
    again = run_report(CONFIG, out, progress=False, on_row=fitted.append)
    assert fitted == [] and again == rows
    assert (out / "results.jsonl").read_bytes() == before


def test_interrupted_report_resumes_where_it_stopped(tmp_path):
    config = ReportConfig(predictors=("flops", "mlp"), train_sizes=(20, 40), seeds=2, test_size=50, baseline_epochs=5)

    seen = []

    def stop_after_three(row):  # as if the user pressed Ctrl-C once the third run was saved
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_report(config, tmp_path, progress=False, on_row=stop_after_three)
    assert len(load_rows(tmp_path)) == 3
    done_first = {(r["predictor"], r["size"], r["seed"]) for r in load_rows(tmp_path)}
    resumed = []
    rows = run_report(config, tmp_path, progress=False, on_row=resumed.append)
    assert len(rows) == 8 and len(resumed) == 5
    assert not done_first & {(r["predictor"], r["size"], r["seed"]) for r in resumed}

    # Changed settings are not mixed with old rows: more epochs reruns mlp only (flops has no epochs).
    changed = []
    run_report(
        ReportConfig(predictors=("flops", "mlp"), train_sizes=(20, 40), seeds=2, test_size=50, baseline_epochs=6),
        tmp_path,
        progress=False,
        on_row=changed.append,
    )
    assert {r["predictor"] for r in changed} == {"mlp"} and len(changed) == 4


def test_processes_sharing_an_output_folder_keep_every_row(tmp_path, monkeypatch):
    """Two workers add a row at the same moment: each reads the file, then writes it back with its
    row. The write is slowed down so that, without the lock, the second would drop the first's row."""
    import threading
    import time

    import nasrlm.report.runner as report_module

    write = report_module.atomic_write_text

    def slow_write(path, text):
        time.sleep(0.3)
        write(path, text)

    monkeypatch.setattr(report_module, "atomic_write_text", slow_write)
    rows = [{"predictor": p, "size": 10, "seed": 0, "key": "k"} for p in ("flops", "params")]
    workers = [threading.Thread(target=report_module._add_row, args=(tmp_path, row)) for row in rows]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(r["predictor"] for r in load_rows(tmp_path)) == ["flops", "params"]


def test_cli_report_and_saved_surrogate(tmp_path, capsys):
    from nasrlm.rlm.surrogate import Surrogate
    from nasrlm.rlm.training import TrainConfig

    out = tmp_path / "cli"
    argv = ["report", "--predictors", "flops,gbdt", "--train-sizes", "25,50", "--seeds", "1", "--test-size", "60"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert (out / "report.html").is_file() and len(load_rows(out)) == 4

    space = get_space("nb201")
    train, _ = random_split(space.size, 30, 0)
    surrogate = Surrogate.pretrained()
    targets = {name: space.values(name)[train] for name in OBJECTIVES}
    config = TrainConfig(epochs=1, freeze_encoder=True, progress=False)
    surrogate.fit(space.to_texts([int(i) for i in train]), targets, config)
    surrogate.meta["train_archs"] = [int(i) for i in train]
    surrogate.save(tmp_path / "model")
    evaluated = tmp_path / "evaluated"
    argv = ["report", "--surrogate", str(tmp_path / "model"), "--test-size", "40", "--rlm-samples", "4"]
    assert main([*argv, "--out", str(evaluated), "--quiet"]) == 0
    (row,) = load_rows(evaluated)
    data = load_predictions(evaluated, row)
    assert row["held_out_known"] and row["size"] == 30 and len(data["test_idx"]) == 40
    assert not set(data["test_idx"]) & set(train)
    truth = space.values("acc")[data["test_idx"]]
    assert row["scores"]["acc"]["kendall"] == pytest.approx(kendalltau(truth, data["pred_acc"])[0], abs=1e-12)
    assert "50 % cover" in (evaluated / "report.md").read_text()
    # Asked again: the finished evaluation is reused, not repeated.
    assert main([*argv, "--out", str(evaluated), "--quiet"]) == 0 and len(load_rows(evaluated)) == 1
    capsys.readouterr()

    bad_objective = ["--surrogate", str(tmp_path / "model"), "--objectives", "flops_x", "--out", str(tmp_path / "x")]
    assert main(["report", *bad_objective]) == 2
    assert "the surrogate decodes: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--predictors", "rlm,xgb"], "valid predictors: rlm, brp, flops, gbdt, gcn, gin, mlp, params"),
        (["--objectives", "acc,speed"], "unknown objective 'speed' for space 'nb201'; valid: acc, test_acc"),
        (["--space", "nb301"], "valid spaces: fbnet, nb101, nb201"),
        (["--train-sizes", "100,1x"], "--train-sizes must be comma-separated integers"),
        (["--train-sizes", "100,15625"], "train sizes must lie between 2 and 15623"),
        (["--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
        (["--test-size", "1"], "argument --test-size: must be at least 2, got 1"),
        (["--rlm-samples", "0"], "argument --rlm-samples: must be from 1 to 10,000, got 0"),
        (["--surrogate", "no/such/model"], "not a saved nasrlm surrogate"),
    ],
)
def test_bad_arguments_give_clear_errors(args, message, tmp_path, capsys):
    try:
        code = main(["report", *args, "--out", str(tmp_path / "r")])
    except SystemExit as exit_info:  # numbers are checked by the parser, which exits after its usage line
        code = exit_info.code
    assert code == 2
    error = capsys.readouterr().err
    assert error.splitlines()[-1].startswith("nasrlm report: error: ") and message in error
    assert not (tmp_path / "r" / "results.jsonl").exists()


def test_results_file_is_plain_json_lines(report):
    out, rows = report
    lines = (out / "results.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # in run order (seed-major), rows in report order
    assert sorted(parsed, key=json.dumps) == sorted(rows, key=json.dumps)
