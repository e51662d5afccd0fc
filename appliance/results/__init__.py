"""Scan results: the SQLite store and the report writers."""
