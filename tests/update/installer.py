"""Run ``gapscan`` as a real subprocess for the power-cut tests, with the stand-in store when needed."""

import sys

from tests.update.standin_store import install_if_needed

if __name__ == "__main__":
    install_if_needed()
    from appliance.cli import main

    sys.exit(main(sys.argv[1:]))
