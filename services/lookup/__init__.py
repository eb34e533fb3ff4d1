"""Lookup: the read model and HTTP API behind the lookup by SN (X5)."""
