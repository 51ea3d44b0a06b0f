"""``nasrlm fit``: train (or fine-tune) an RLM on any table of text -> numbers."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import (
    CliError,
    check_output_folder,
    column_names,
    comma_list,
    config_option,
    learning_rate,
    positive_int,
    read_table,
    seed_int,
    whole_number,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nasrlm.rlm.training import TrainConfig

    parser.add_argument("--data", required=True, help="a .jsonl or .csv file")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--targets", help="comma-separated numeric columns (default: all numeric columns)")
    parser.add_argument("--out", required=True, help="folder to save the trained model in")
    parser.add_argument("--init", help="fine-tune this saved model instead of starting from scratch")
    config_option(parser, "--epochs", TrainConfig, type=positive_int)
    config_option(parser, "--batch-size", TrainConfig, type=positive_int)
    config_option(parser, "--lr", TrainConfig, type=learning_rate)
    parser.add_argument(
        "--max-length",
        type=whole_number(5, 65_536),  # <s>, </s> and a cut marker leave room for text from 5 on
        default=512,
        help="input tokens kept per text (new models)",
    )
    parser.add_argument("--freeze-encoder", action="store_true", help="train the decoder only (fast fine-tuning)")
    parser.add_argument("--checkpoint-dir", help="resumable training state is kept here")
    config_option(parser, "--seed", TrainConfig, type=seed_int)


def run(args: argparse.Namespace) -> int:
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError, SurrogateSaveError, check_save_target
    from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
    from nasrlm.rlm.training import TrainConfig

    try:  # before training: a bad --out must not cost the user a whole fit
        check_save_target(args.out)
    except SurrogateSaveError as exc:
        raise CliError(f"--out: {exc}") from None
    check_output_folder(args.out)
    texts, numeric, _ = read_table(args.data, args.text_column)
    targets = comma_list(args.targets) if args.targets else list(numeric)
    missing = [t for t in targets if t not in numeric]
    if missing or not targets:
        raise CliError(
            f"target column(s) {missing or '(none)'} not numeric columns of {args.data}; "
            f"numeric columns: {column_names(numeric)}"
        )
    if args.init:
        try:
            surrogate = Surrogate.load(args.init)
        except SurrogateLoadError as exc:
            raise CliError(f"--init {args.init}: {exc}") from None
    else:
        surrogate = Surrogate.new(
            targets, texts, tokenizer=TextTokenizerConfig(max_length=args.max_length), seed=args.seed
        )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        freeze_encoder=args.freeze_encoder,
        checkpoint_dir=args.checkpoint_dir,
    )
    try:
        result = surrogate.fit(texts, {t: numeric[t] for t in targets}, config)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        surrogate.save(args.out)
    except (SurrogateSaveError, OSError) as exc:
        raise CliError(f"--out: cannot save the model: {exc}") from None
    print(
        f"trained on {len(texts)} rows for {result.epochs} epochs ({result.stopped}) in {result.seconds:.1f} s; "
        f"best validation loss {result.best_val_loss:.4f}; "
        f"{100 * surrogate.meta['truncated_share']:.1f}% of inputs truncated; saved to {args.out}"
    )
    return 0
