"""Vendored benchmark data (see PROVENANCE.md in this folder)."""
