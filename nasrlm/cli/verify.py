"""``nasrlm verify``: the command-line face of :func:`nasrlm.hardware.verify.verify`.

Measures candidates' latency, compares it with the surrogate's prediction and stores it as the device
metric ``latency_<NAME>``.
"""

from __future__ import annotations

import argparse

from nasrlm.cli._common import (
    CliError,
    add_space_argument,
    check_output_file,
    check_output_folder,
    config_option,
    load_space,
    non_negative_int,
    positive_int,
    samples_int,
    threads_int,
    whole_number,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nasrlm.hardware.latency import BACKENDS, DEVICES, LatencyConfig

    add_space_argument(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--archs", help="text file (one arch string or index a line), CSV or JSON with an arch column")
    source.add_argument("--study", help="name of an Optuna study whose trials hold archs (with --storage)")
    parser.add_argument("--storage", help="Optuna storage URL of --study, e.g. sqlite:///search.db")
    config_option(parser, "--backend", LatencyConfig, choices=BACKENDS)
    parser.add_argument(
        "--device", choices=DEVICES, help="default: cpu for onnxruntime, cuda for triton, torch: cuda if any"
    )
    parser.add_argument("--device-name", help="stored as metric latency_NAME (default: local_BACKEND_DEVICE)")
    config_option(parser, "--threads", LatencyConfig, type=threads_int, help="CPU threads of the runtime (default 1)")
    config_option(parser, "--warmup", LatencyConfig, type=non_negative_int, help="untimed runs first (default 10)")
    config_option(
        parser, "--repeats", LatencyConfig, type=positive_int, help="timed rounds; the median is reported (default 30)"
    )
    config_option(parser, "--batch-size", LatencyConfig, type=whole_number(1, 1024))  # inputs are allocated per batch
    parser.add_argument("--surrogate", help="saved surrogate to compare with (default: the shipped pretrained one)")
    parser.add_argument(
        "--objective", help="surrogate objective to compare (default: latency_NAME, else ort_latency_ms)"
    )
    parser.add_argument("--samples", type=samples_int, default=32, help="surrogate samples per arch")
    parser.add_argument("--no-predict", action="store_true", help="measure only; no surrogate")
    parser.add_argument("--table", help="device table CSV to store into (default: the nasrlm cache folder)")
    parser.add_argument("--no-store", action="store_true", help="do not store the measurements as a device metric")
    parser.add_argument("--out", help="folder for latency.csv, summary.json, scatter.png (default: verify_NAME)")


def _default_device(backend: str) -> str:
    import torch

    return {"onnxruntime": "cpu", "triton": "cuda"}.get(backend) or ("cuda" if torch.cuda.is_available() else "cpu")


def _default_name(args: argparse.Namespace) -> str:
    return f"local_{args.backend}_{args.device or _default_device(args.backend)}"


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import numpy as np

    from nasrlm.hardware import devices as device_metrics
    from nasrlm.hardware.latency import LatencyConfig, LatencyError
    from nasrlm.hardware.verify import archs_from_file, archs_from_study, hardware_name, verify, write_outputs

    space = load_space(args.space)
    try:
        metric = device_metrics.device_metric_name(args.device_name or _default_name(args))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if metric in space.metrics:
        raise CliError(f"{metric} is a benchmark metric of {args.space}; choose another --device-name")
    device = args.device or _default_device(args.backend)
    try:
        config = LatencyConfig(args.backend, device, args.threads, args.warmup, args.repeats, args.batch_size)
    except LatencyError as exc:
        raise CliError(str(exc)) from None
    # Before measuring: a bad output path must not cost the user the measurements.
    out = check_output_folder(args.out or f"verify_{metric.removeprefix('latency_')}")
    if args.table and not args.no_store:
        check_output_file(args.table, "--table")
    if args.archs:
        archs = archs_from_file(space, args.archs)
    elif args.study and args.storage:
        archs = archs_from_study(space, args.study, args.storage)
    else:
        raise CliError("--study needs --storage (an Optuna storage URL, e.g. sqlite:///search.db)")
    surrogate = None
    if not args.no_predict:
        from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

        try:
            surrogate = Surrogate.load(args.surrogate) if args.surrogate else Surrogate.pretrained()
        except SurrogateLoadError as exc:
            raise CliError(str(exc)) from None
    options = {"objective": args.objective, "samples": args.samples, "table": args.table, "store": not args.no_store}
    try:
        report = verify(space, archs, config, metric, surrogate=surrogate, progress=True, **options)
    except (LatencyError, ValueError) as exc:
        raise CliError(str(exc)) from None
    info = {"space": space.name, "measurement": asdict(config), "hardware": hardware_name(device)}
    info["surrogate"] = args.surrogate or "shipped default"
    if not args.no_store:
        info["table"] = str(args.table or device_metrics.table_path(space.name, metric))
    write_outputs(out, space, archs, report, info)
    print(
        f"measured {len(archs)} archs ({args.backend}, {device}, {config.threads} thread(s), median of "
        f"{config.repeats} after {config.warmup} warm-up): median {np.median(report.measured_ms):.3f} ms"
    )
    if report.predicted_ms is not None:
        print(
            f"vs predicted {report.objective}: Spearman {report.spearman:.3f}, Kendall {report.kendall:.3f}, "
            f"{100 * report.within_10pct:.1f}% within ±10%"
        )
    if "table" in info:
        print(f"stored as {metric} in {info['table']}")
    print(
        f"wrote latency.csv, summary.json, scatter.png, fit_data.csv to {out}; teach a surrogate this device with: "
        f"nasrlm fit --data {out / 'fit_data.csv'} --targets {metric} --init MODEL --freeze-encoder --out NEW_MODEL"
    )
    return 0
