"""Hardware-facing layer: media readers, accelerator backends, front panel, keystore, watchdog.

Knows devices, not business rules. Nothing here imports ``appliance`` or ``web``.
"""
