"""Regenerate ``search_spaces/nb201/data`` from the project's shared benchmark folder (values unchanged).

Usage: python experiments/vendor_data.py [SHARED_DATA_DIR]   (default: ../shared/data)

Each CSV is compressed with xz and recorded in ``manifest.json`` with the sha256 of the compressed
file and of the original CSV, which :mod:`search_spaces.nb201.tables` verifies on every load.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import sys
from pathlib import Path

TABLES = (
    "nb201_200ep_valacc_ctpe",
    "nb201_test_acc_200ep",
    "nb201_12ep_acc_minibench",
    "nb201_latency_help",
)


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else repo.parent / "shared" / "data"
    target = repo / "search_spaces" / "nb201" / "data"
    manifest = {}
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
    shutil.copy(source / "PROVENANCE.md", target / "PROVENANCE.md")
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
