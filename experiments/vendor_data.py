"""Regenerate ``search_spaces/nb201/data`` from the project's shared benchmark folder (values unchanged).

Usage: python experiments/vendor_data.py [--source SHARED_DATA_DIR]   (default: ../shared/data)

Each CSV is compressed with xz and recorded in ``manifest.json`` with the sha256 of the compressed
file and of the original CSV, which :mod:`search_spaces.nb201.tables` verifies on every load. Entries
of other tables in the manifest (the onnxruntime latency table written by experiments/bench_latency.py)
are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import re
from pathlib import Path

TABLES = (
    "nb201_200ep_valacc_ctpe",
    "nb201_test_acc_200ep",
    "nb201_12ep_acc_minibench",
    "nb201_latency_help",
)


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=repo.parent / "shared" / "data", help="the shared data folder")
    args = parser.parse_args()
    source = args.source
    missing = [f"{name}.csv" for name in TABLES if not (source / f"{name}.csv").is_file()]
    if missing:
        parser.error(f"{source} lacks {', '.join(missing)}; pass --source with the shared benchmark folder")
    target = repo / "search_spaces" / "nb201" / "data"
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for name in TABLES:
        raw = (source / f"{name}.csv").read_bytes()
        blob = lzma.compress(raw, preset=9)
        (target / f"{name}.csv.xz").write_bytes(blob)
        manifest[f"{name}.csv.xz"] = {
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "source_file": f"{name}.csv",
            "source_sha256": hashlib.sha256(raw).hexdigest(),
            "rows": raw.count(b"\n") - 1,
        }
        print(f"{name}: {len(raw):,} -> {len(blob):,} bytes")
    # The shared provenance, plus the sections of tables made here (bench_latency's) that it lacks.
    text = (source / "PROVENANCE.md").read_text()
    ours = target / "PROVENANCE.md"
    if ours.is_file():
        for section in re.findall(r"\n## .*?(?=\n## |\Z)", ours.read_text(), flags=re.S):
            if section.splitlines()[1] not in text:
                text = text.rstrip() + "\n" + section.rstrip() + "\n"
    ours.write_text(text)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
