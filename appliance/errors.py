"""Errors the user can act on. The CLI prints the message and exits 2."""


class GapscanError(Exception):
    """A clear, user-facing failure: the message names the file, list, bundle or field at fault."""
