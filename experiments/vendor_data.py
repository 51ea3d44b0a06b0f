"""Regenerate ``search_spaces/<space>/data`` from the project's shared benchmark folder (values unchanged).

Usage: python experiments/vendor_data.py [--source SHARED_DATA_DIR] [--spaces nb201,fbnet,...]
(default: ../shared/data, every space)

Each file is compressed with xz and recorded in its space's ``manifest.json`` with the sha256 of the
compressed file and of the original, which :mod:`search_spaces.vendored` verifies on every load.
``PROVENANCE.md`` gets the shared provenance's introduction and the sections of the space's own files.
Entries of other files in a manifest (the onnxruntime latency table written by
experiments/bench_latency.py) are kept, and so are their provenance sections.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import re
from pathlib import Path

# Each space's files in the shared folder.
FILES = {
    "nb201": (
        "nb201_200ep_valacc_ctpe.csv",
        "nb201_test_acc_200ep.csv",
        "nb201_12ep_acc_minibench.csv",
        "nb201_latency_help.csv",
    ),
    "nb101": ("nb101_500_zc_valacc_naslib.csv", "nb101_sample30_naslib.json"),
    "fbnet": ("fbnet_latency_help.csv",),
    "ofa_mbv3": ("ofa_mbv3_latency_help.csv",),
    "transnas_macro": ("transnas101_macro_zc_valacc_naslib.csv",),
}


def provenance(shared: str, files: tuple[str, ...], old: str) -> str:
    """The shared provenance's introduction (up to its table) and the sections naming one of ``files``,
    plus the sections of ``old`` (this space's previous provenance) that the shared one lacks."""
    intro = shared.split("\n## ", 1)[0].split("\n| file")[0].rstrip()
    sections = re.findall(r"\n## .*?(?=\n## |\Z)", shared, flags=re.S)
    ours = [s for s in sections if any(name in s.splitlines()[1] for name in files)]
    text = intro + "\n" + "".join(s.rstrip() + "\n" for s in ours)
    for section in re.findall(r"\n## .*?(?=\n## |\Z)", old, flags=re.S):
        if section.splitlines()[1] not in shared:
            text = text.rstrip() + "\n" + section.rstrip() + "\n"
    return text


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=repo.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--spaces", default=",".join(FILES), help=f"comma-separated, of {', '.join(FILES)}")
    args = parser.parse_args()
    source = args.source
    spaces = [name for name in args.spaces.split(",") if name]
    unknown = [name for name in spaces if name not in FILES]
    if unknown:
        parser.error(f"unknown space {', '.join(unknown)}; valid: {', '.join(FILES)}")
    missing = [name for space in spaces for name in FILES[space] if not (source / name).is_file()]
    if missing:
        parser.error(f"{source} lacks {', '.join(missing)}; pass --source with the shared benchmark folder")
    shared_provenance = (source / "PROVENANCE.md").read_text()
    for space in spaces:
        target = repo / "search_spaces" / space / "data"
        target.mkdir(parents=True, exist_ok=True)
        manifest_path = target / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        for name in FILES[space]:
            raw = (source / name).read_bytes()
            blob = lzma.compress(raw, preset=9)
            (target / f"{name}.xz").write_bytes(blob)
            entry = {
                "sha256": hashlib.sha256(blob).hexdigest(),
                "bytes": len(blob),
                "source_file": name,
                "source_sha256": hashlib.sha256(raw).hexdigest(),
            }
            if name.endswith(".csv"):
                entry["rows"] = raw.count(b"\n") - 1
            manifest[f"{name}.xz"] = entry
            print(f"{space}/{name}: {len(raw):,} -> {len(blob):,} bytes")
        ours = target / "PROVENANCE.md"
        old = ours.read_text() if ours.is_file() else ""
        ours.write_text(provenance(shared_provenance, FILES[space], old))
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        init = target / "__init__.py"
        if not init.is_file():
            init.write_text('"""Vendored benchmark data (see PROVENANCE.md in this folder)."""\n')


if __name__ == "__main__":
    main()
