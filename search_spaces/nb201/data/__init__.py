"""Vendored benchmark tables (see README.md and PROVENANCE.md in this folder)."""
