"""How many tokens a network of each space takes in each text form (what a model's token budget must hold).

Usage: python experiments/text_lengths.py [--networks 300] [--vocab 4096] [--random-networks runs/random_networks.jsonl]

For each form (canonical ONNX text, the reading form, the compact form), a BPE of --vocab symbols is
learned (nasrlm.rlm.text_tokenizer, as the surrogate learns it) on --networks random table
architectures of every registered space (and the random networks of experiments/random_networks.py,
if that file exists); then the median and largest token count per space are printed, with the median
character count.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=300, help="per space")
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--random-networks", type=Path, default=Path("runs/random_networks.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from nasrlm.rlm.text_tokenizer import TextTokenizer, TextTokenizerConfig
    from nasrlm.text.compact_text import compact_text
    from nasrlm.text.reading_text import reading_text
    from search_spaces import available_spaces, get_space

    rng = np.random.default_rng(args.seed)
    onnx_texts: dict[str, list[str]] = {}
    for name in available_spaces():
        space = get_space(name)
        chosen = rng.choice(space.size, min(args.networks, space.size), replace=False)
        onnx_texts[name] = space.to_texts([int(i) for i in chosen])
    if args.random_networks.is_file():
        lines = args.random_networks.read_text().splitlines()[: args.networks]
        onnx_texts["random networks"] = [json.loads(line)["text"] for line in lines]
    forms = {"onnx": lambda t: t, "reading": reading_text, "compact": compact_text}
    print(f"{'space':<16}" + "".join(f"{form + ' tokens':>22}{form + ' chars':>14}" for form in forms))
    rows: dict[str, list[str]] = {name: [] for name in onnx_texts}
    for convert in forms.values():
        texts = {name: [convert(t) for t in group] for name, group in onnx_texts.items()}
        config = TextTokenizerConfig(vocab_size=args.vocab, max_length=100_000)
        tokenizer = TextTokenizer.train([t for group in texts.values() for t in group], config)
        for name, group in texts.items():
            lengths = tokenizer.token_lengths(group)
            chars = np.median([len(t) for t in group])
            rows[name].append(f"{f'{np.median(lengths):.0f} (max {lengths.max()})':>22}{chars:>14,.0f}")
    for name, cells in rows.items():
        print(f"{name:<16}" + "".join(cells))


if __name__ == "__main__":
    main()
