"""Hash lists: importers (one module per format), the in-memory index, the matcher, the encrypted store."""
