"""``python -m appliance`` is the ``gapscan`` command (used by tests so they need no installed script)."""

from appliance.cli import main

raise SystemExit(main())
