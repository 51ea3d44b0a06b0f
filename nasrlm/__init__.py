"""nasrlm: neural architecture search with a Regression Language Model surrogate."""

from __future__ import annotations

from typing import Any

from nasrlm.core.version import __version__

__all__ = ["Prediction", "Surrogate", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import nasrlm` (and the CLI's --help) should not pay for torch.
    if name in ("Surrogate", "Prediction"):
        from nasrlm.rlm import surrogate

        return getattr(surrogate, name)
    raise AttributeError(f"module 'nasrlm' has no attribute {name!r}")
