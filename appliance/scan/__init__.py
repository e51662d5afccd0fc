"""Scan jobs: walk a Source, hash, match, record, checkpoint, resume, emit progress events."""
