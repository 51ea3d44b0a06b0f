"""Device tables (stored, reloaded, served by the space), ``nasrlm verify`` and fitting a new device."""

from __future__ import annotations

import json

import pytest

from nasrlm.cli import main
from nasrlm.hardware import devices as device_metrics
from nasrlm.hardware.devices import UnmeasuredArchError
from search_spaces import get_space

HOW = {"measurement": {"backend": "onnxruntime", "threads": 1}}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Device tables go to a private cache folder, never the user's."""
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(device_metrics, "_REGISTERED", {})


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rows(space, values: dict[int, float]) -> dict[int, tuple[str, float, float, int]]:
    return {i: (str(space.arch(i)), v, 0.01, 30) for i, v in values.items()}


def test_table_is_stored_reloaded_and_served(space, tmp_path):
    table = device_metrics.record("nb201", "latency_box", _rows(space, {5: 1.5, 6111: 3.25}), HOW)
    path = tmp_path / "cache" / "devices" / "nb201" / "latency_box.csv"
    assert table.path == path and path.is_file() and path.with_suffix(".json").is_file()
    again = device_metrics.load_table(path)
    assert dict(again.latency_ms) == {5: 1.5, 6111: 3.25}
    assert again.arch[6111] == str(space.arch(6111)) and again.repeats[5] == 30
    assert again.meta["measurement"] == HOW["measurement"]
    assert space.query(6111, "latency_box") == 3.25
    assert space.query(str(space.arch(5)), "latency_box") == 1.5
    assert list(space.query_many([6111, 5], "latency_box")) == [3.25, 1.5]
    metric = space.metric("latency_box")
    assert metric.direction == "minimize" and metric.unit == "ms" and "2 architectures" in metric.description
    assert device_metrics.registered_metrics("nb201") == ["latency_box"]


def test_unmeasured_archs_are_named(space):
    device_metrics.record("nb201", "latency_box", _rows(space, {5: 1.5}), HOW)
    with pytest.raises(UnmeasuredArchError, match=r"not measured for 1 architecture\(s\) \(index 7\)"):
        space.query(7, "latency_box")
    with pytest.raises(UnmeasuredArchError, match=r"2 architecture\(s\) \(index 7, 8\)"):
        space.query_many([5, 7, 8], "latency_box")
    with pytest.raises(UnmeasuredArchError, match="15624 architecture"):
        space.values("latency_box")  # all archs asked for, one measured


def test_new_measurements_merge_and_other_protocols_are_refused(space):
    device_metrics.record("nb201", "latency_box", _rows(space, {5: 1.5, 6: 2.0}), HOW)
    device_metrics.record("nb201", "latency_box", _rows(space, {6: 2.5, 7: 3.0}), HOW)
    assert space.query_many([5, 6, 7], "latency_box").tolist() == [1.5, 2.5, 3.0]  # re-measured 6 replaced
    other = {"measurement": {"backend": "onnxruntime", "threads": 4}}
    with pytest.raises(ValueError, match="use another device name"):
        device_metrics.record("nb201", "latency_box", _rows(space, {8: 1.0}), other)


def test_tables_cannot_shadow_benchmark_metrics(space):
    device_metrics.record("nb201", "latency_pixel3", _rows(space, {0: 999.0}), HOW)
    assert space.query(0, "latency_pixel3") == pytest.approx(3.60585)  # HW-NAS-Bench's value, not the table's


def test_table_elsewhere_is_registered(space, tmp_path):
    path = tmp_path / "shared" / "latency_lab.csv"
    device_metrics.record("nb201", "latency_lab", _rows(space, {1: 4.0}), HOW, path=path)
    with pytest.raises(KeyError, match="unknown device 'lab'"):
        space.query(1, "latency_lab")  # not in the cache folder, not registered yet
    device_metrics.register_table(path)
    assert space.query(1, "latency_lab") == 4.0


@pytest.mark.parametrize("bad", ["", "a b", "../x", "-x", "x" * 65])
def test_bad_device_names(bad):
    with pytest.raises(ValueError, match="invalid device name"):
        device_metrics.device_metric_name(bad)


def test_bad_latencies_are_refused():
    with pytest.raises(ValueError, match="positive and finite; index 3"):
        device_metrics.DeviceTable("nb201", "latency_x", {3: -1.0})


# --- reading candidates ------------------------------------------------------------------------
def test_arch_files(space, tmp_path):
    from nasrlm.hardware.verify import archs_from_file

    text = tmp_path / "archs.txt"
    text.write_text(f"# finalists\n6111\n\n{space.arch(5)}\n6111\n")
    assert [a.index for a in archs_from_file(space, text)] == [6111, 5]  # duplicates measured once
    csv = tmp_path / "archs.csv"
    csv.write_text(f"arch,acc\n{space.arch(3)},90\n12,80\n")
    assert [a.index for a in archs_from_file(space, csv)] == [3, 12]
    js = tmp_path / "archs.json"
    js.write_text(json.dumps([{"arch": str(space.arch(9))}, 10, "11"]))
    assert [a.index for a in archs_from_file(space, js)] == [9, 10, 11]


def test_archs_from_an_optuna_study(space, tmp_path):
    import optuna

    from nasrlm.hardware.verify import archs_from_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    study = optuna.create_study(study_name="s1", storage=storage)
    study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs={"arch": str(space.arch(42))}))
    params = space.to_params(space.arch(43))
    study.add_trial(optuna.trial.create_trial(value=2.0, params=params, distributions=space.distributions()))
    assert [a.index for a in archs_from_study(space, "s1", storage)] == [42, 43]


# --- the command -------------------------------------------------------------------------------
def test_verify_command_end_to_end(capsys, space, tmp_path):
    archs = tmp_path / "archs.txt"
    archs.write_text("0\n6111\n100\n")
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "verify", "--archs", str(archs), "--device-name", "ci", "--repeats", "5", "--warmup", "2",
        "--samples", "4", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "Spearman" in stdout and "stored as latency_ci" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["archs"] == 3 and summary["objective"] == "ort_latency_ms"  # the shipped default's latency
    assert -1 <= summary["spearman"] <= 1 and 0 <= summary["within_10pct"] <= 1
    assert summary["measurement"]["threads"] == 1
    assert (out / "scatter.png").stat().st_size > 1000
    import pandas as pd

    rows = pd.read_csv(out / "latency.csv")
    assert rows["index"].tolist() == [0, 6111, 100] and (rows["measured_ms"] > 0).all()
    assert (rows["predicted_ms"] > 0).all()
    # The new device is a metric of the space now, also on the command line.
    assert space.query(6111, "latency_ci") == pytest.approx(rows["measured_ms"][1])
    code, stdout, _ = run(capsys, "query", "6111", "--metrics", "latency_ci,acc")
    assert code == 0 and "latency_ci=" in stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--archs", "missing.txt"], "arch file not found"),
        (["--archs", "BAD", "--backend", "triton", "--device", "cpu"], "CUDA GPU"),
        (["--archs", "BAD", "--device-name", "pixel3"], "latency_pixel3 is a benchmark metric"),
        (["--archs", "BAD", "--device-name", "a/b"], "invalid device name"),
        (["--archs", "BAD"], "line 2: invalid NB201 arch string"),
        (["--study", "nope", "--storage", "sqlite:///STUDY"], "no study 'nope'"),
        (["--study", "nope"], "--study needs --storage"),
    ],
)
def test_verify_bad_input_gives_one_clear_line(capsys, tmp_path, argv, message):
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n|conv~0|\n")
    argv = [a.replace("BAD", str(bad)).replace("STUDY", str(tmp_path / "s.db")) for a in argv]
    code, _, err = run(capsys, "verify", "--no-predict", *argv)
    assert code == 2 and message in err and "Traceback" not in err


# --- a new device for a trained surrogate ------------------------------------------------------
def test_fit_adds_the_device_from_verify_output(capsys, space, tmp_path):
    from nasrlm.rlm.surrogate import PRETRAINED_DIR, Surrogate

    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(str(i) for i in (0, 5, 100, 6111, 9000, 12000)) + "\n")
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "verify", "--archs", str(archs), "--device-name", "ci2", "--repeats", "3", "--warmup", "1",
        "--no-predict", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    model = tmp_path / "model"
    code, _, err = run(
        capsys, "fit", "--data", str(out / "fit_data.csv"), "--targets", "latency_ci2", "--init", str(PRETRAINED_DIR),
        "--epochs", "2", "--freeze-encoder", "--out", str(model),
    )  # fmt: skip
    assert code == 0, err
    grown = Surrogate.load(model)
    assert grown.objectives[-1] == "latency_ci2" and "ort_latency_ms" in grown.objectives


def test_fit_device_in_python(space):
    from nasrlm.hardware.verify import decode_objectives, fit_device
    from nasrlm.rlm.surrogate import Surrogate
    from nasrlm.rlm.training import TrainConfig

    measured = {i: 0.5 + i / 10_000 for i in (0, 5, 100, 6111, 9000)}
    device_metrics.record("nb201", "latency_py", _rows(space, measured), HOW)
    surrogate = Surrogate.pretrained()
    result = fit_device(surrogate, space, "latency_py", config=TrainConfig(epochs=3, batch_size=4, progress=False))
    assert result.steps > 0 and surrogate.objectives[-1] == "latency_py"
    assert decode_objectives(surrogate, "latency_py") == ["latency_py"]  # decoded as it was trained
    prediction = surrogate.predict(space.to_texts([6111]), objectives=["latency_py"], num_samples=4)
    assert prediction.point["latency_py"][0] > 0
