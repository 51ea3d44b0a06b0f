"""The package version, in one place (``nasrlm.__version__`` re-exports it)."""

__version__ = "0.1.0"
