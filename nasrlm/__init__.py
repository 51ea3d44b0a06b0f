"""nasrlm: neural architecture search with a Regression Language Model surrogate."""

from __future__ import annotations

__version__ = "0.1.0"
