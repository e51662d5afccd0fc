"""gapscand: the appliance's long-running service (media watcher, scan queue, front panel, watchdog).

Scans run as ``gapscan scan`` subprocesses (``ScanController``), progress lives in the results store, and the
web UI talks to the daemon over a Unix socket of JSON lines (``run/gapscand.sock``): the shared SQLite store
carries the data, the socket carries only commands. So a crashed UI never stops a scan, a crashed scan never
takes down the UI or the daemon, and a daemon restart loses nothing but the queue of not-yet-started volumes.
"""

SOCKET_NAME = "gapscand.sock"
