"""gapscan's product layer: hashing, hash lists, scans, results, reports, updates, audit, CLI."""

__version__ = "0.1.0"
