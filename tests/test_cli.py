from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nasrlm.cli import COMMANDS, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("spaces", "demo", "query", "onnx-text", "fit", "predict"):
        assert command in out


def test_help_lists_every_registered_command_with_its_summary(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no summary wrapped over lines
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    words = " ".join(capsys.readouterr().out.split())  # a long name has its summary on the next line
    assert set(COMMANDS) == {"spaces", "demo", "query", "onnx-text", "fit", "predict", "search", "report", "verify"}
    for name, command in COMMANDS.items():
        assert f" {name} {command.help}" in words


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: nasrlm {command} ")


def test_top_level_help_imports_no_command():
    """`nasrlm --help` is instant: the command modules, and torch, are imported only to run a command."""
    check = (
        "import json, sys\n"
        "from nasrlm.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "torch" not in imported and "pandas" not in imported
    assert not imported & {command.module for command in COMMANDS.values()}


def test_spaces_lists_metrics(capsys):
    code, out, _ = run(capsys, "spaces")
    assert code == 0
    assert "nb201: 15,625 architectures" in out
    assert "latency_pixel3" in out and "maximize" in out and "minimize" in out


def test_demo_and_query(capsys):
    code, out, _ = run(capsys, "demo", "-n", "3", "--metrics", "acc,latency_pixel3")
    assert code == 0 and out.count("|+|") == 6 and "ONNX chars" in out  # two "|+|" per arch string
    code, out, _ = run(capsys, "query", "6111", "--metrics", "test_acc")
    assert code == 0 and "test_acc=94.3733" in out


def test_onnx_text(capsys, tmp_path):
    target = tmp_path / "cell.txt"
    code, _out, _ = run(capsys, "onnx-text", "6111", "--out", str(target))
    assert code == 0 and target.read_text().startswith("<")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--space", "nb999"], "valid spaces: fbnet, nb101, nb201"),
        (["query", "1", "--metrics", "accuracy"], "valid metrics: acc"),
        (["query", "1", "--metrics", "latency_iphone"], "unknown device 'iphone'"),
        (["query", "|conv~0|"], "valid ops"),
        (["onnx-text", "missing.onnx"], "not found"),
        (["fit", "--data", "missing.jsonl", "--out", "x"], "not found"),
    ],
)
def test_bad_input_gives_one_clear_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_generic_fit_and_predict(capsys, tmp_path):
    rows = [{"text": "def f():\n" + "    x += 1\n" * k, "memory": 10.0 * k + 1, "tag": "a"} for k in range(1, 30)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "model"
    code, out, err = run(
        capsys,
        "fit",
        "--data",
        str(data),
        "--targets",
        "memory",
        "--out",
        str(model),
        "--epochs",
        "2",
        "--max-length",
        "64",
    )
    assert code == 0, err
    assert "trained on 29 rows" in out and (model / "model.safetensors").is_file()
    predictions = tmp_path / "pred.csv"
    code, out, err = run(
        capsys, "predict", "--model", str(model), "--data", str(data), "--samples", "4", "--out", str(predictions)
    )
    assert code == 0, err
    lines = predictions.read_text().splitlines()
    assert lines[0] == "memory,memory_std,memory_q05,memory_q95" and len(lines) == 30
    code, _, err = run(capsys, "fit", "--data", str(data), "--targets", "tag", "--out", str(model))
    assert code == 2 and "numeric columns: 'memory'" in err


def test_fit_out_never_replaces_what_it_did_not_write(capsys, tmp_path):
    rows = [{"text": f"x = {k}", "y": float(k)} for k in range(1, 25)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fit = ["fit", "--data", str(data), "--targets", "y", "--epochs", "1", "--max-length", "16"]
    # A folder of someone's files: refused before training, every file untouched.
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    code, _, err = run(capsys, *fit, "--out", str(folder))
    assert code == 2 and "does not hold a saved nasrlm model" in err and "Traceback" not in err
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]
    assert (folder / "thesis.tex").read_text() == "years of work"
    # An existing file: refused, left as it was.
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    code, _, err = run(capsys, *fit, "--out", str(file))
    assert code == 2 and "is an existing file" in err and file.read_text() == "keep me"
    # A saved model is replaced, and a note kept beside it survives the replacement.
    model = tmp_path / "model"
    assert run(capsys, *fit, "--out", str(model))[0] == 0
    (model / "NOTE.md").write_text("how it was made")
    first = (model / "config.json").read_text()
    assert run(capsys, *fit, "--out", str(model), "--seed", "1")[0] == 0
    assert (model / "config.json").read_text() != first and (model / "NOTE.md").read_text() == "how it was made"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes.txt", "results", "rows.jsonl"]
    # The weights get the same mode as the config beside them.
    assert (model / "model.safetensors").stat().st_mode & 0o777 == (model / "config.json").stat().st_mode & 0o777
