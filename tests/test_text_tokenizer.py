from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from onnx import printer

from nasrlm.rlm.text_tokenizer import CONFIG_FILE, TOKENIZER_FILE, TextTokenizer, TextTokenizerConfig
from nasrlm.text.onnx_text import canonicalize
from search_spaces.nb201.arch import all_archs
from search_spaces.nb201.onnx_builder import build_onnx, cell_scopes

# Unicode, tabs, CRLF, a literal special token and an emoji: nothing of this is in the NB201 texts.
PYTHON_SOURCE = (
    "def área(r: float) -> float:\r\n"
    '\t"""Fläche eines Kreises — π r² (円の面積) 🙂."""\r\n'
    "\treturn 3.14159 * r ** 2  # <s> and </s> and <pad> are text here\n"
    "x = [área(i) for i in range(10) if i < 5 and i > 1]\n"
)


@pytest.fixture(scope="module")
def nb201_texts() -> list[str]:
    archs = all_archs()
    chosen = random.Random(0).sample(range(len(archs)), 160)
    scopes = cell_scopes()
    return [printer.to_text(canonicalize(build_onnx(archs[i].ops), scopes)) for i in chosen]


@pytest.fixture(scope="module")
def tokenizer(nb201_texts: list[str]) -> TextTokenizer:
    return TextTokenizer.train(nb201_texts[:120], TextTokenizerConfig(vocab_size=2048, max_length=1024))


@pytest.fixture(scope="module")
def held_out(nb201_texts: list[str]) -> list[str]:
    return nb201_texts[120:]


def with_config(tok: TextTokenizer, **changes: object) -> TextTokenizer:
    fields = {**tok.config.__dict__, **changes}
    return TextTokenizer(tok._tokenizer, TextTokenizerConfig(**fields))


def test_special_token_ids(tokenizer: TextTokenizer) -> None:
    assert tokenizer.pad_id == 0
    specials = [tokenizer._tokenizer.token_to_id(t) for t in TextTokenizer.SPECIAL_TOKENS]
    assert specials == [0, 1, 2, 3, 4]
    assert 261 < tokenizer.vocab_size <= 2048


def test_round_trip_nb201(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    for text in held_out:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
        assert tokenizer.unk_id not in ids


def test_round_trip_unseen_characters(tokenizer: TextTokenizer) -> None:
    ids = tokenizer.encode(PYTHON_SOURCE)
    assert tokenizer.decode(ids) == PYTHON_SOURCE
    # Byte-level fallback: nothing becomes <unk>, and literal special tokens stay text.
    assert not set(ids) & {tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id}
    # The same through the batch path, between the <s> ... </s> frame.
    ids_batch, mask, _ = tokenizer.encode_batch([PYTHON_SOURCE])
    row = ids_batch[0][mask[0]]
    assert tokenizer.decode(row[1:-1]) == PYTHON_SOURCE


def test_empty_text(tokenizer: TextTokenizer) -> None:
    assert tokenizer.encode("") == []
    ids, mask, share = tokenizer.encode_batch([""])
    assert ids.tolist() == [[tokenizer.bos_id, tokenizer.eos_id]] and mask.all() and share == 0.0


def test_onnx_text_is_compact(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    lengths = tokenizer.token_lengths(held_out)
    chars = np.array([len(t) for t in held_out])
    # Attribute blocks and signature entries become single tokens: over 10 characters per token
    # (GPT-2's generic pre-tokenizer gives about 2).
    assert np.all(chars / lengths > 10), (chars / lengths).min()
    assert lengths.max() < 800


def test_tokens_follow_onnx_structure(tokenizer: TextTokenizer) -> None:
    line = (
        "\n   t11 = Conv <dilations: ints = [1, 1], group: int = 1, kernel_shape: ints = [3, 3], "
        "pads: ints = [1, 1, 1, 1], strides: ints = [1, 1]> (t10, w25, w26)"
    )
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode(line)]
    assert "".join(pieces) == line
    # Operator and attribute block in one token; each argument name its own token.
    assert pieces[1].startswith(" = Conv <") and pieces[1].endswith(">")
    assert pieces[0] == "\n   t11"
    assert pieces[2:] == [" (t10", ", w25", ", w26)"]


def test_token_lengths_match_encode(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    texts = [*held_out[:5], PYTHON_SOURCE, ""]
    lengths = tokenizer.token_lengths(texts)
    assert lengths.dtype == np.int64
    assert lengths.tolist() == [len(tokenizer.encode(t)) for t in texts]


def test_padding_and_mask(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    texts = ["t0 = Relu (x)", held_out[0], PYTHON_SOURCE]
    ids, mask, share = tokenizer.encode_batch(texts)
    lengths = tokenizer.token_lengths(texts) + 2
    assert ids.dtype == np.int64 and mask.dtype == bool
    assert ids.shape == mask.shape == (3, lengths.max())
    assert mask.sum(axis=1).tolist() == lengths.tolist()
    assert share == 0.0
    for row, row_mask, text in zip(ids, mask, texts, strict=True):
        assert np.all(row[~row_mask] == tokenizer.pad_id)
        assert row[0] == tokenizer.bos_id and row[row_mask][-1] == tokenizer.eos_id
        assert row[1 : row_mask.sum() - 1].tolist() == tokenizer.encode(text)
    empty_ids, empty_mask, empty_share = tokenizer.encode_batch([])
    assert empty_ids.shape == empty_mask.shape == (0, 0) and empty_share == 0.0


def test_head_tail_truncation_keeps_the_end(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    text = held_out[0]
    full = tokenizer.encode(text)
    tok = with_config(tokenizer, max_length=64, truncation="head_tail")
    ids, mask, share = tok.encode_batch([text])
    row = ids[0].tolist()
    assert len(row) == 64 and mask.all() and share == 1.0
    head, tail = 31, 30  # 64 - <s>, <sep>, </s>, the odd token to the head
    assert row == [tok.bos_id, *full[:head], tok.sep_id, *full[-tail:], tok.eos_id]
    # The cell function, at the end of the text, survives.
    assert text.endswith(tok.decode(full[-tail:]))
    assert tok.decode(row[-tail - 1 : -1]).endswith("\n}")


def test_head_truncation_keeps_the_start(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    text = held_out[0]
    full = tokenizer.encode(text)
    tok = with_config(tokenizer, max_length=50, truncation="head")
    ids, _, share = tok.encode_batch([text])
    assert ids[0].tolist() == [tok.bos_id, *full[:47], tok.sep_id, tok.eos_id]
    assert share == 1.0
    assert text.startswith(tok.decode(full[:47]))


def test_tail_truncation_keeps_the_end(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    text = held_out[0]
    full = tokenizer.encode(text)
    tok = with_config(tokenizer, max_length=40, truncation="tail")
    ids, _, share = tok.encode_batch([text])
    assert ids[0].tolist() == [tok.bos_id, tok.sep_id, *full[-37:], tok.eos_id]
    assert share == 1.0 and text.endswith(tok.decode(full[-37:]))


def test_truncated_share_and_boundary(tokenizer: TextTokenizer, held_out: list[str]) -> None:
    n = len(tokenizer.encode(held_out[0]))
    fits = with_config(tokenizer, max_length=n + 2)  # exactly <s> text </s>
    ids, mask, share = fits.encode_batch([held_out[0]])
    assert share == 0.0 and ids.shape == (1, n + 2) and tokenizer.sep_id not in ids[0]
    cut = with_config(tokenizer, max_length=n + 1)
    ids, mask, share = cut.encode_batch([held_out[0], "x", held_out[0], "y"])
    assert share == 0.5
    assert ids.shape == (4, n + 1)
    assert mask.sum(axis=1).tolist() == [n + 1, 3, n + 1, 3]
    assert (ids == tokenizer.sep_id).sum(axis=1).tolist() == [1, 0, 1, 0]


def test_save_load_identical(tokenizer: TextTokenizer, held_out: list[str], tmp_path: Path) -> None:
    tokenizer.save(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == sorted([CONFIG_FILE, TOKENIZER_FILE])
    loaded = TextTokenizer.load(tmp_path / "tok")
    assert loaded.config == tokenizer.config
    assert loaded.vocab_size == tokenizer.vocab_size
    texts = [*held_out, PYTHON_SOURCE]
    for a, b in zip(tokenizer.encode_batch(texts), loaded.encode_batch(texts), strict=True):
        np.testing.assert_array_equal(a, b)
    # Literal special tokens are still text after loading (that flag is not in tokenizer.json).
    assert loaded.decode(loaded.encode(PYTHON_SOURCE)) == PYTHON_SOURCE
    assert loaded.bos_id not in loaded.encode("<s>")
    # Saving again over an existing directory works.
    loaded.save(tmp_path / "tok")
    assert TextTokenizer.load(tmp_path / "tok").encode(held_out[0]) == tokenizer.encode(held_out[0])


def test_load_missing_files(tokenizer: TextTokenizer, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        TextTokenizer.load(tmp_path / "nowhere")
    tokenizer.save(tmp_path)
    (tmp_path / TOKENIZER_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=TOKENIZER_FILE):
        TextTokenizer.load(tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (TOKENIZER_FILE, '{"version": "1.0", "model": '),
        (TOKENIZER_FILE, '{"not": "a tokenizer"}'),
        (CONFIG_FILE, "{not json"),
        (CONFIG_FILE, '{"format": "something else", "version": 1, "config": {}}'),
        (CONFIG_FILE, '{"format": "nasrlm.text_tokenizer", "version": 1, "config": {"truncation": "middle"}}'),
        (CONFIG_FILE, '{"format": "nasrlm.text_tokenizer", "version": 1, "config": {"vocab": 10}}'),
        (CONFIG_FILE, '{"format": "nasrlm.text_tokenizer", "version": 1}'),
    ],
)
def test_load_corrupt_files(tokenizer: TextTokenizer, tmp_path: Path, name: str, content: str) -> None:
    tokenizer.save(tmp_path)
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=name):
        TextTokenizer.load(tmp_path)


def test_load_rejects_wrong_special_tokens(tokenizer: TextTokenizer, tmp_path: Path) -> None:
    tokenizer.save(tmp_path)
    data = json.loads((tmp_path / TOKENIZER_FILE).read_text())
    data["added_tokens"][0]["content"] = "[PAD]"
    (tmp_path / TOKENIZER_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="special tokens"):
        TextTokenizer.load(tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"truncation": "middle"}, "'head', 'head_tail', 'tail'"),
        ({"vocab_size": 100}, "vocab_size must be at least 261"),
        ({"max_length": 4}, "max_length must be at least 5"),
        ({"min_frequency": 0}, "min_frequency must be at least 1"),
    ],
)
def test_invalid_config(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextTokenizerConfig(**changes)


@pytest.mark.parametrize("changes", [{"vocab_size": 4096.0}, {"max_length": True}, {"min_frequency": "2"}])
def test_config_types(changes: dict[str, object]) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        TextTokenizerConfig(**changes)


def test_bad_inputs(tokenizer: TextTokenizer) -> None:
    with pytest.raises(ValueError, match="no texts"):
        TextTokenizer.train([], TextTokenizerConfig(vocab_size=300))
    with pytest.raises(TypeError, match=r"text 1 must be a str, got bytes"):
        TextTokenizer.train(["ok", b"bytes"], TextTokenizerConfig(vocab_size=300))  # type: ignore[list-item]
    with pytest.raises(ValueError, match="lone surrogate"):
        tokenizer.encode("a\ud800b")
    with pytest.raises(ValueError, match=r"text 1 .*lone surrogate"):
        tokenizer.encode_batch(["fine", "a\ud800b"])
    with pytest.raises(ValueError, match="out of range"):
        tokenizer.decode([tokenizer.vocab_size])


def test_train_on_generic_text() -> None:
    # The RLM also reads source code: training on it alone works and round-trips.
    lines = [PYTHON_SOURCE.replace("10", str(i)) for i in range(20)]
    tok = TextTokenizer.train(lines, TextTokenizerConfig(vocab_size=400, min_frequency=1))
    assert tok.vocab_size <= 400
    assert tok.decode(tok.encode(PYTHON_SOURCE)) == PYTHON_SOURCE
    assert len(tok.encode(PYTHON_SOURCE)) < len(PYTHON_SOURCE.encode()) / 4
    assert tok.decode(tok.encode("ünïcödé ✓")) == "ünïcödé ✓"


def test_split_shapes_gives_each_dimension_its_own_token(nb201_texts: list[str], tmp_path: Path) -> None:
    from nasrlm.text.compact_text import compact_text

    texts = [compact_text(text) for text in nb201_texts[:60]]
    whole = TextTokenizer.train(texts, TextTokenizerConfig(vocab_size=600))
    split = TextTokenizer.train(texts, TextTokenizerConfig(vocab_size=600, split_shapes=True))
    line = "Conv k3 [16,16,3,3] +b\nConv k5 s2 @4 [24,40,5,5] +b"
    pieces = [split.decode([i]) for i in split.encode(line)]
    assert " [16" in pieces and ",16" in pieces and ",3]" in pieces
    assert all(piece.count(",") + piece.count("[") <= 1 for piece in pieces)  # never two dimensions in one
    assert " [16,16,3,3]" in [whole.decode([i]) for i in whole.encode(line)]  # the default: one token
    for tok in (whole, split):
        assert all(tok.decode(tok.encode(text)) == text for text in texts)
    assert len(split.encode(texts[0])) > len(whole.encode(texts[0]))
    split.save(tmp_path / "split")  # the pre-tokenizer is saved with the vocabulary
    loaded = TextTokenizer.load(tmp_path / "split")
    assert loaded.config.split_shapes and loaded.encode(line) == split.encode(line)
    with pytest.raises(TypeError, match="split_shapes must be a bool"):
        TextTokenizerConfig(split_shapes=1)  # type: ignore[arg-type]
