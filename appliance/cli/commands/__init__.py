"""One module per sub-command (or family of sub-commands); each defines ``register(subparsers)``."""
