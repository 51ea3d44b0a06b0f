"""``nasrlm predict``: every objective of a saved RLM for each row's text, as CSV with uncertainty."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import CliError, check_output_file, read_table, samples_int, seed_int, write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--samples", type=samples_int, default=32)
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--out", help="CSV to write (default: print)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    if args.out:
        check_output_file(args.out)
    texts, _, _ = read_table(args.data, args.text_column)
    try:
        surrogate = Surrogate.load(args.model)
    except SurrogateLoadError as exc:
        raise CliError(str(exc)) from None
    prediction = surrogate.predict(texts, num_samples=args.samples, progress=True, seed=args.seed)
    columns = {}
    low_high = prediction.interval(0.9)
    for name in prediction.objectives:
        columns[name] = prediction.point[name]
        columns[f"{name}_std"] = prediction.std[name]
        columns[f"{name}_q05"], columns[f"{name}_q95"] = low_high[name]
    frame = pd.DataFrame(columns)
    if args.out:
        write_text(args.out, frame.to_csv(index=False))
        print(f"wrote {len(frame)} predictions to {args.out}")
    else:
        print(frame.to_csv(index=False), end="")
    return 0
