"""The ONNX text of all 15,625 NAS-Bench-201 architectures, shipped with the package.

Building them takes about a minute on two cores (an ONNX export and a canonicalization each), and a
search's candidate pools touch most of the space: on a fresh install the RLM sampler built them one
by one, which made the README's main command minutes slower than on a machine that had built them
before. The table (216 KB of xz) is what the code here builds, verified when read: it is used only
if it was made by this very text code (a digest of the modules that make the text) and a few of its
texts are rebuilt identically here (the ONNX printer of the installed ``onnx`` prints as the one
that made it). Anything else builds the texts, as before.

Remake it after changing how NB201 text is made: ``python -m search_spaces.nb201.text_table``.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

from .arch import NUM_ARCHS
from .tables import data_dir

__all__ = ["CHECKED_ARCHS", "code_digest", "shipped_texts", "table_path", "write_table"]

# Rebuilt on every read: the first and last cells, and ones with dead edges, pools and convs mixed.
CHECKED_ARCHS = (0, 7, 6111, 15624)


def table_path() -> Path:
    return data_dir() / "onnx_text.json.xz"


def code_digest() -> str:
    """Digest of the modules that make NB201's text (not of the ``onnx`` version: see shipped_texts)."""
    from nasrlm.text import onnx_text

    from . import onnx_builder, text

    digest = hashlib.sha256()
    for module in (onnx_text, onnx_builder, text):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def shipped_texts(path: Path | None = None) -> list[str] | None:
    """The shipped texts in official index order, or None when absent, damaged or not what this code makes."""
    from .text import build_texts

    path = path or table_path()
    try:
        table = json.loads(lzma.decompress(path.read_bytes()))
        texts = table["texts"]
        digest = table["code_digest"]
    except (OSError, ValueError, KeyError, TypeError, lzma.LZMAError):
        return None
    if digest != code_digest() or not isinstance(texts, list) or len(texts) != NUM_ARCHS:
        return None
    from .arch import all_archs

    archs = all_archs()
    rebuilt = build_texts([archs[i].ops for i in CHECKED_ARCHS], workers=1)
    if any(texts[i] != text for i, text in zip(CHECKED_ARCHS, rebuilt, strict=True)):
        return None
    return texts


def write_table(texts: list[str], path: Path | None = None) -> Path:
    """Write ``texts`` (all archs, index order) with the digest of the code that made them."""
    import onnx

    from nasrlm.core.cache import atomic_write_bytes

    if len(texts) != NUM_ARCHS:
        raise ValueError(f"the table holds every arch: {NUM_ARCHS} texts, got {len(texts)}")
    path = path or table_path()
    table = {"code_digest": code_digest(), "onnx": onnx.__version__, "texts": texts}
    atomic_write_bytes(path, lzma.compress(json.dumps(table).encode(), preset=9 | lzma.PRESET_EXTREME))
    return path


def main() -> None:
    from .arch import all_archs
    from .text import build_texts

    texts = build_texts([a.ops for a in all_archs()], progress=True)
    print(f"wrote {write_table(texts)}")


if __name__ == "__main__":
    main()
