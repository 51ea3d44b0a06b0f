"""A byte-level BPE tokenizer learned on the texts the RLM reads (canonical ONNX text first of all).

Input length is the main training cost of the RLM, so the tokenizer is built to give few tokens per
network while staying lossless: ``decode(encode(text)) == text`` for any Python string that is valid
Unicode (no normalization; every byte has a token, so nothing becomes ``<unk>``).

Most of the saving comes from the pre-tokenizer (:data:`ONNX_PRETOKENIZE_PATTERN`), which decides
which characters BPE may merge into one token. It cuts ONNX text into the pieces that repeat:

* an operator with its whole attribute block, `` = Conv <dilations: ints = [1, 1], ...>``, so that
  each attribute block in use becomes one token;
* a graph-signature entry with its name, ``, float[16,16,3,3] w52``: these names are numbered in order
  of first use, so the number says nothing about the wiring, and the pair is one token, not two;
* one value name per piece everywhere else, with the separator before it and an optional closing
  parenthesis (``\\n   t12``, `` (t11``, ``, w25``, ``, w26)``): argument lists are where the
  numbering carries the wiring, and each name stays its own token;
* the multi-line ``<...>`` headers of the model and of each local function, constant per file.

Anything else (Python source, kernels, prose) falls into generic word-with-separator pieces and gaps,
which works (on Python source it gives 4.1 characters per token, GPT-2's pattern 3.7).

Measured on 500 NB201 texts, trained on 1,000 others, vocabulary 4,096 (median / max tokens): this
pattern 312 / 600; with signature names split from their shapes 416 / 804; splitting only at
newlines, ``(``, ``, `` and `` = `` 510 / 839; GPT-2's generic pattern 2,250 / 4,022. A vocabulary
of 1,024 is too small (max 996: rare weight names fall apart); 8,192 changes nothing on NB201.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from nasrlm.core.cache import atomic_write_text

__all__ = [
    "ONNX_PRETOKENIZE_PATTERN",
    "SHAPE_DIMENSION_PATTERN",
    "TRUNCATION_MODES",
    "TextTokenizer",
    "TextTokenizerConfig",
]

TRUNCATION_MODES = ("head", "head_tail", "tail")
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "text_tokenizer_config.json"
_FORMAT = "nasrlm.text_tokenizer"  # a file-format name, kept when the module moved
_FORMAT_VERSION = 1
# The order fixes the ids: <pad> is 0.
_SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>", "<sep>")

# A "word": no whitespace and none of ( ) , = < > [ ], except a bracketed group without spaces
# (``float[16,16,3,3]``) and a comma not followed by a space (``[1,3,32,32]``).
_WORD = r"(?:[^\s(),=<>\[\]]|\[[^\s\]]*\]|,(?=\S))+"
# One dimension of a bracketed list, with what opens or separates it (and a closing bracket):
# `` [16``, ``,16``, ``,3]`` (``TextTokenizerConfig.split_shapes``).
SHAPE_DIMENSION_PATTERN = r" ?[\[,]\d+\]?"
ONNX_PRETOKENIZE_PATTERN = "|".join(
    (
        # Multi-line model / function header: ``<\n   ir_version: 8, ... \n>``.
        r"\n?<\n[^<>]{0,512}\n>",
        # Operator with its attribute block: `` = Conv <dilations: ..., strides: ints = [1, 1]>``.
        r"(?: = )?" + _WORD + r" <[^<>\n]{0,512}>",
        # Any other one-line ``<...>``.
        r" ?<[^<>\n]{0,512}>",
        # Signature entry, typed name: ``, float[16,16,3,3] w52``.
        r"(?:, | ?\()\w+\[[^\s\]]*\] " + _WORD + r"\)?",
        # Start of a line with its indentation: ``\n   t12``.
        r"\n[ \t]*" + _WORD,
        # One word with the separator before it and an optional closing parenthesis: ``, w26)``.
        r"(?:, | = | ?\(| )?" + _WORD + r"\)?",
    )
)
# Characters between matches (runs of spaces, lone punctuation) become pieces of their own.


@dataclass(frozen=True)
class TextTokenizerConfig:
    """How to learn the vocabulary and how to cut long texts.

    ``max_length`` counts special tokens. ``truncation``: ``"head"`` keeps the start of a long text;
    ``"head_tail"`` keeps its first and last halves, because ONNX text puts local functions (for a
    cell-based space, the cell: what differs between architectures) at the end; ``"tail"`` keeps
    only the end, for spaces whose fixed skeleton carries nothing the model needs.
    """

    vocab_size: int = 4096
    max_length: int = 1024
    min_frequency: int = 2
    truncation: str = "head_tail"
    # A bracketed shape is one pre-token (``[16,16,3,3]``), so BPE learns common shapes as single
    # opaque tokens and an unseen one falls apart into arbitrary pieces: nothing tells the model that
    # [24,16,5,5] is larger than [16,16,3,3]. With ``split_shapes`` each dimension is its own piece
    # (``[16``, ``,16``, ``,3``, ``,3]``): a handful of dimension tokens, each seen in many shapes,
    # whose magnitudes the model can learn once (about 4x the tokens per shape).
    split_shapes: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_length", "min_frequency"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not isinstance(self.split_shapes, bool):
            raise TypeError(f"split_shapes must be a bool, got {self.split_shapes!r}")
        min_vocab = 256 + len(_SPECIAL_TOKENS)
        if self.vocab_size < min_vocab:
            raise ValueError(
                f"vocab_size must be at least {min_vocab} (256 byte symbols and "
                f"{len(_SPECIAL_TOKENS)} special tokens), got {self.vocab_size}"
            )
        if self.max_length < 5:
            # <s>, a head token, <sep>, a tail token, </s>.
            raise ValueError(f"max_length must be at least 5, got {self.max_length}")
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {self.min_frequency}")
        if self.truncation not in TRUNCATION_MODES:
            valid = ", ".join(repr(m) for m in TRUNCATION_MODES)
            raise ValueError(f"truncation must be one of {valid}, got {self.truncation!r}")


class TextTokenizer:
    """Byte-level BPE over :data:`ONNX_PRETOKENIZE_PATTERN` pieces; see the module docstring.

    Rows from :meth:`encode_batch` are ``<s> tokens </s>``; a text longer than ``max_length`` loses
    tokens at the cut, which is marked by one ``<sep>`` (``<s> head <sep> tail </s>``, or
    ``<s> head <sep> </s>`` for ``"head"``), so the model can tell a truncated text from a short one.
    Special tokens written literally in a text (``"<s>"``) are encoded as ordinary text.
    """

    PAD, UNK, BOS, EOS, SEP = _SPECIAL_TOKENS
    SPECIAL_TOKENS = _SPECIAL_TOKENS

    def __init__(self, tokenizer: Tokenizer, config: TextTokenizerConfig) -> None:
        """Wrap a trained ``tokenizers.Tokenizer``; use :meth:`train` or :meth:`load` instead."""
        ids = range(len(self.SPECIAL_TOKENS))
        added = tokenizer.get_added_tokens_decoder()
        found = tuple(added[i].content if i in added and added[i].special else None for i in ids)
        if found != self.SPECIAL_TOKENS:
            raise ValueError(f"special tokens must be {self.SPECIAL_TOKENS} with ids 0..4, found {found}")
        # Not saved in tokenizer.json, so set on every construction: without it a literal "<s>" in a
        # text would become the BOS id and the text would not round-trip.
        tokenizer.encode_special_tokens = True
        self._tokenizer = tokenizer
        self.config = config
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.sep_id = ids

    def with_config(self, **changes: object) -> TextTokenizer:
        """The same vocabulary under a changed config (``max_length``, ``truncation``)."""
        from dataclasses import replace

        learned = {"vocab_size", "min_frequency", "split_shapes"}.intersection(changes)
        if learned:
            raise ValueError(f"{', '.join(sorted(learned))} are fixed when the vocabulary is learned")
        return type(self)(self._tokenizer, replace(self.config, **changes))  # type: ignore[arg-type]

    def with_added_tokens(self, tokens: Sequence[str]) -> TextTokenizer:
        """The vocabulary plus ``tokens``, each read as one token wherever it occurs (new ids at the end).

        For strings whose meaning is one unit (``10^7.72``, :data:`nasrlm.text.graph_costs.VALUE_TOKENS`)
        that BPE would cut into arbitrary pieces. Tokens already present keep their ids.
        """
        copy = Tokenizer.from_str(self._tokenizer.to_str())
        copy.add_tokens([AddedToken(t, normalized=False, special=False) for t in tokens])
        return type(self)(copy, self.config)

    def token_id(self, token: str) -> int | None:
        """The id of ``token`` if it is one token of the vocabulary (an added one included), else None."""
        return self._tokenizer.token_to_id(token)

    @property
    def vocab_size(self) -> int:
        """Actual vocabulary size, special tokens included (at most ``config.vocab_size``)."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        config: TextTokenizerConfig = TextTokenizerConfig(),  # frozen, so safe to share
        *,
        show_progress: bool = False,
    ) -> TextTokenizer:
        """Learn a vocabulary of at most ``config.vocab_size`` tokens from ``texts``."""
        tokenizer = Tokenizer(models.BPE(unk_token=cls.UNK))
        shapes = [pre_tokenizers.Split(Regex(SHAPE_DIMENSION_PATTERN), behavior="isolated")]
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(ONNX_PRETOKENIZE_PATTERN), behavior="isolated"),
                *(shapes if config.split_shapes else []),
                # Maps each UTF-8 byte to a visible symbol; with all 256 in the initial alphabet no
                # character is ever unknown.
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=config.vocab_size,
            min_frequency=config.min_frequency,
            special_tokens=list(cls.SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
        seen = [0]

        def checked() -> Iterator[str]:
            for i, text in enumerate(texts):
                _check_text(text, i)
                seen[0] += 1
                yield text

        tokenizer.train_from_iterator(checked(), trainer)
        if seen[0] == 0:
            raise ValueError("cannot train a tokenizer on no texts")
        return cls(tokenizer, config)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, untruncated and without special tokens."""
        return self._encode_many([text])[0]

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Untruncated token count of each text (no special tokens), int64."""
        return np.array([len(ids) for ids in self._encode_many(texts)], dtype=np.int64)

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, float]:
        """Rows ``<s> tokens </s>`` truncated to ``config.max_length``, padded to the longest row.

        Returns ``(ids, mask, truncated_share)``: int64 ids ``[n, L]`` padded with :attr:`pad_id`,
        a bool attention mask ``[n, L]`` (True on real tokens), and the share of texts that were cut.
        """
        rows = [self._frame(ids) for ids in self._encode_many(texts)]
        n = len(rows)
        width = max((len(row) for row, _ in rows), default=0)
        ids = np.full((n, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=bool)
        truncated = 0
        for i, (row, was_cut) in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = True
            truncated += was_cut
        return ids, mask, (truncated / n if n else 0.0)

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; ``<pad>`` is dropped, other special tokens are written out unless skipped."""
        clean = [int(i) for i in ids]
        bad = [i for i in clean if not 0 <= i < self.vocab_size]
        if bad:
            # tokenizers would silently decode an unknown id to nothing.
            raise ValueError(f"token ids out of range [0, {self.vocab_size}): {bad[:5]}")
        clean = [i for i in clean if i != self.pad_id]
        return self._tokenizer.decode(clean, skip_special_tokens=skip_special_tokens)

    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json`` and ``text_tokenizer_config.json`` into ``directory``, atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"format": _FORMAT, "version": _FORMAT_VERSION, "config": asdict(self.config)}
        atomic_write_text(directory / TOKENIZER_FILE, self._tokenizer.to_str())
        atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> TextTokenizer:
        """Read a tokenizer written by :meth:`save`; errors name the missing or unreadable file."""
        directory = Path(directory)
        config_path, tokenizer_path = directory / CONFIG_FILE, directory / TOKENIZER_FILE
        for path in (config_path, tokenizer_path):
            if not path.is_file():
                raise FileNotFoundError(f"text tokenizer file missing: {path}")
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
            if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
                raise ValueError(f"not a {_FORMAT} v{_FORMAT_VERSION} file")
            known = {f.name for f in fields(TextTokenizerConfig)}
            unknown = set(meta["config"]) - known
            if unknown:
                raise ValueError(f"unknown config fields {sorted(unknown)}")
            config = TextTokenizerConfig(**meta["config"])
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as err:
            raise ValueError(f"corrupt text tokenizer config {config_path}: {err}") from err
        try:
            tokenizer = Tokenizer.from_str(tokenizer_path.read_text(encoding="utf-8"))
            return cls(tokenizer, config)
        except Exception as err:  # tokenizers raises its own exception types for bad JSON
            raise ValueError(f"corrupt tokenizer file {tokenizer_path}: {err}") from err

    def _encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        texts = list(texts)
        try:
            # The fast batch path skips offset tracking and runs in parallel in Rust.
            encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        except TypeError:
            for i, text in enumerate(texts):
                _check_text(text, i)
            raise
        return [e.ids for e in encodings]

    def _frame(self, ids: list[int]) -> tuple[list[int], bool]:
        """Add ``<s>``/``</s>`` and, when too long, cut to ``max_length`` with ``<sep>`` at the cut."""
        limit = self.config.max_length
        if len(ids) + 2 <= limit:
            return [self.bos_id, *ids, self.eos_id], False
        keep = limit - 3
        if self.config.truncation == "head":
            return [self.bos_id, *ids[:keep], self.sep_id, self.eos_id], True
        if self.config.truncation == "tail":
            return [self.bos_id, self.sep_id, *ids[len(ids) - keep :], self.eos_id], True
        head = (keep + 1) // 2
        tail = keep - head  # >= 1 since max_length >= 5
        return [self.bos_id, *ids[:head], self.sep_id, *ids[len(ids) - tail :], self.eos_id], True


def _check_text(text: object, index: int | None) -> None:
    which = "text" if index is None else f"text {index}"
    if not isinstance(text, str):
        raise TypeError(f"{which} must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{which} is not valid Unicode (lone surrogate at {err.start})") from err
