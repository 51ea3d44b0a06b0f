"""``nasrlm report``: the command-line face of :func:`nasrlm.report.runner.run_report`.

Fits every predictor on identical random splits and writes ``report.md`` and ``report.html``; with
``--surrogate``, scores one saved surrogate instead (:func:`nasrlm.report.runner.evaluate_surrogate`);
with ``--data``, reports on a JSONL/CSV of text and targets instead of a space
(:func:`nasrlm.report.text_data.run_text_report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasrlm.cli._common import (
    DEFAULT_SPACE,
    CliError,
    check_output_folder,
    comma_list,
    config_option,
    is_metric,
    load_tabular_space,
    positive_int,
    samples_int,
    threads_int,
    valid_metrics,
    whole_number,
)

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = (
    "Fits every predictor on identical random splits (same archs, same seeds), tests each on the "
    "remaining archs, and writes OUT/report.md and a self-contained OUT/report.html: Kendall tau and "
    "Spearman per objective and train size, tau against train size, predicted-vs-true plots, latency "
    "within 10 %, calibration of the RLM's intervals, fit and predict times. Finished runs are kept in "
    "OUT/results.jsonl; rerunning continues from them. With --surrogate, evaluates one saved surrogate. "
    "With --data rows.jsonl --targets y, the same report on a JSONL/CSV of text and numbers instead of a "
    "space: the RLM against text baselines (token_gbdt, length), on random rows or, with --group-column, "
    "whole held-out groups."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nasrlm.report.runner import ReportConfig, RlmSettings
    from nasrlm.report.text_data import DEFAULT_MAX_LENGTH, DEFAULT_TEXT_PREDICTORS

    space, text = ReportConfig(), ",".join(DEFAULT_TEXT_PREDICTORS)
    parser.add_argument("--space", help=f"a tabular search space (default {DEFAULT_SPACE})")
    parser.add_argument(
        "--objectives", help=f"comma-separated metrics of the space (default {','.join(space.objectives)})"
    )
    parser.add_argument(
        "--predictors",
        help=f"rlm and/or baselines, comma-separated (default {','.join(space.predictors)}; with --data {text})",
    )
    parser.add_argument(
        "--train-sizes",
        help=f"comma-separated (default {','.join(map(str, space.train_sizes))}; with --data a fifth and a half "
        "of the rows, or of the groups)",
    )
    config_option(parser, "--seeds", ReportConfig, type=positive_int, help="seeds 0 .. SEEDS-1")
    config_option(
        parser,
        "--test-size",
        ReportConfig,
        type=whole_number(2),  # a rank correlation needs two points
        help="test on this many random held-out archs, or rows (default: all)",
    )
    parser.add_argument("--out", default="report", help="folder for results, plots and the report (default: report)")
    config_option(parser, "--rlm-samples", RlmSettings, "samples", type=samples_int, help="samples per RLM prediction")
    config_option(parser, "--rlm-epochs", RlmSettings, "epochs", type=positive_int)
    parser.add_argument(
        "--rlm-init",
        help="fine-tune this saved surrogate instead of the shipped default (with --data: instead of a new model)",
    )
    config_option(
        parser,
        "--epochs",
        ReportConfig,
        "baseline_epochs",
        type=positive_int,
        help="override the trained baselines' epochs (quick runs)",
    )
    parser.add_argument("--surrogate", help="only evaluate this saved surrogate on held-out archs (no fitting)")
    table = parser.add_argument_group("reports on a table of text (instead of a space)")
    table.add_argument("--data", help="a .jsonl or .csv file of text and numeric targets")
    table.add_argument("--targets", help="comma-separated numeric columns to predict (with --data)")
    table.add_argument("--text-column", help="the column of texts (default text)")
    table.add_argument("--group-column", help="hold out whole groups of this column (e.g. problem_id); N counts groups")
    table.add_argument(
        "--rlm-max-length",
        type=whole_number(5, 65_536),
        help=f"input tokens kept per text by the new RLM of each fit (default {DEFAULT_MAX_LENGTH})",
    )
    parser.add_argument("--threads", type=threads_int, default=1, help="torch threads for the RLM (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from nasrlm.report.render import describe, load_rows, render_report, selected_rows
    from nasrlm.report.runner import run_report

    torch.set_num_threads(args.threads)  # the RLM's; the baselines set their own (1 by default)
    out = check_output_folder(args.out)
    if args.data is not None:
        paths = _report_text(args, out)
        print(f"wrote {', '.join(str(p) for p in paths)}")
        return 0
    for option in ("targets", "text_column", "group_column", "rlm_max_length"):
        if getattr(args, option) is not None:
            raise CliError(f"--{option.replace('_', '-')} is for reports on a table of text: add --data rows.jsonl")
    args.space = args.space or DEFAULT_SPACE
    if args.surrogate is not None:
        paths = _report_surrogate(args, out)
    else:
        config = _config_from_args(args)
        try:
            rows = run_report(config, out, progress=not args.quiet)
        except KeyboardInterrupt:
            # Finished runs are on disk; render them so that the stopped report is still readable.
            rows = selected_rows(config, load_rows(out))
            if rows:
                render_report(out, rows, config.objectives, describe(config), title="nasrlm report (partial)")
            raise
        paths = render_report(out, rows, config.objectives, describe(config))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _config_from_args(args: argparse.Namespace) -> Any:
    from nasrlm.report.runner import ReportConfig, RlmSettings, check_extras

    defaults = ReportConfig()
    args.objectives = args.objectives or ",".join(defaults.objectives)
    args.predictors = args.predictors or ",".join(defaults.predictors)
    args.train_sizes = args.train_sizes or ",".join(map(str, defaults.train_sizes))
    space = load_tabular_space(args.space, "report")
    objectives = comma_list(args.objectives)
    unknown = [name for name in objectives if not is_metric(space, name)]
    if unknown or not objectives:
        raise CliError(
            f"unknown objective {', '.join(unknown) or '(none)'!r} for space {args.space!r}; "
            f"valid: {', '.join(valid_metrics(space))}"
        )
    try:
        sizes = [int(part) for part in comma_list(args.train_sizes)]
    except ValueError:
        raise CliError(
            f"--train-sizes must be comma-separated integers, e.g. 156,781; got {args.train_sizes!r}"
        ) from None
    from nasrlm.report.runner import measured_archs

    available = len(measured_archs(space, objectives))
    if not sizes or not all(2 <= n <= available - 2 for n in sizes):
        what = (
            f"the space has {space.size:,} archs"
            if available == space.size
            else (f"{available:,} of the space's {space.size:,} archs have {', '.join(objectives)}")
        )
        raise CliError(f"train sizes must lie between 2 and {available - 2} ({what}); got {args.train_sizes!r}")
    if args.rlm_init is not None and not (Path(args.rlm_init) / "config.json").is_file():
        raise CliError(f"--rlm-init {args.rlm_init!r} is not a saved surrogate (no config.json there)")
    predictors = comma_list(args.predictors)
    check_extras(predictors)
    try:
        return ReportConfig(
            space=args.space,
            objectives=tuple(dict.fromkeys(objectives)),
            predictors=tuple(dict.fromkeys(predictors)),
            train_sizes=tuple(dict.fromkeys(sizes)),
            seeds=args.seeds,
            test_size=args.test_size,
            baseline_epochs=args.epochs,
            rlm=RlmSettings(init=args.rlm_init, epochs=args.rlm_epochs, samples=args.rlm_samples),
        )
    except ValueError as exc:  # the configs' own checks name the problem
        raise CliError(str(exc)) from None


def _report_surrogate(args: argparse.Namespace, out: Path) -> list[Path]:
    from nasrlm.report.render import render_report
    from nasrlm.report.runner import ReportConfig, evaluate_surrogate
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    space = load_tabular_space(args.space, "report")
    args.objectives = args.objectives or ",".join(ReportConfig().objectives)
    try:
        decodes = Surrogate.load(args.surrogate).objectives
    except SurrogateLoadError as exc:
        raise CliError(str(exc)) from None
    objectives = comma_list(args.objectives)
    missing = [name for name in objectives if name not in decodes or not is_metric(space, name)]
    if missing or not objectives:
        raise CliError(
            f"objective(s) {', '.join(missing) or '(none)'} not both decoded by the surrogate and metrics of "
            f"{args.space!r}; the surrogate decodes: {', '.join(decodes)}"
        )
    row = evaluate_surrogate(
        args.surrogate, out, space=args.space, objectives=objectives, test_size=args.test_size, samples=args.rlm_samples
    )
    held = "archs it was not trained on" if row["held_out_known"] else "random archs (its training archs unknown)"
    settings = {
        "surrogate": str(args.surrogate),
        "space": args.space,
        "test archs": f"{row['n_test']:,} {held}",
        "samples per prediction": f"{args.rlm_samples}, median as point",
    }
    return render_report(out, [row], objectives, settings, title=f"Surrogate report: {Path(args.surrogate).name}")


def _report_text(args: argparse.Namespace, out: Path) -> list[Path]:
    """``--data``: the report on a table of text (:mod:`nasrlm.report.text_data`)."""
    from nasrlm.report.render import load_rows, render_report, selected_rows
    from nasrlm.report.runner import RlmSettings, check_extras
    from nasrlm.report.text_data import (
        DEFAULT_MAX_LENGTH,
        DEFAULT_TEXT_PREDICTORS,
        TextReportConfig,
        describe_text,
        load_text_table,
        run_text_report,
    )

    for option in ("space", "objectives", "surrogate", "epochs"):
        if getattr(args, option) is not None:
            instead = {"objectives": "; name the columns to predict with --targets"}.get(option, "")
            raise CliError(f"--{option} is for reports on a search space, not with --data{instead}")
    if not args.targets:
        raise CliError(f"--data needs --targets: the numeric columns of {args.data} to predict, e.g. --targets y")
    table = load_text_table(
        args.data, comma_list(args.targets), text_column=args.text_column or "text", group_column=args.group_column
    )
    sizes: list[int] = []
    if args.train_sizes is not None:
        try:
            sizes = [int(part) for part in comma_list(args.train_sizes)]
        except ValueError:
            raise CliError(
                f"--train-sizes must be comma-separated integers, e.g. 50,200; got {args.train_sizes!r}"
            ) from None
        if not sizes:
            raise CliError("--train-sizes is empty; give comma-separated integers, e.g. 50,200")
    if args.rlm_init is not None and not (Path(args.rlm_init) / "config.json").is_file():
        raise CliError(f"--rlm-init {args.rlm_init!r} is not a saved surrogate (no config.json there)")
    predictors = comma_list(args.predictors) if args.predictors is not None else DEFAULT_TEXT_PREDICTORS
    try:
        rlm = RlmSettings(init=args.rlm_init, epochs=args.rlm_epochs, samples=args.rlm_samples)
        config = TextReportConfig(
            table,
            predictors=tuple(predictors),
            train_sizes=tuple(sizes),
            seeds=args.seeds,
            test_size=args.test_size,
            rlm=rlm,
            max_length=args.rlm_max_length or DEFAULT_MAX_LENGTH,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    check_extras(config.predictors)
    units = (table.unit, "rows")
    title = f"nasrlm report: {table.name}"
    try:
        rows = run_text_report(config, out, progress=not args.quiet)
    except KeyboardInterrupt:
        rows = selected_rows(config, load_rows(out))
        if rows:
            render_report(out, rows, config.objectives, describe_text(config), title=f"{title} (partial)", units=units)
        raise
    return render_report(out, rows, config.objectives, describe_text(config), title=title, units=units)
