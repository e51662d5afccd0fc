"""Hashing: one-pass multi-digest reading, file-type sniffing, perceptual hashes."""
