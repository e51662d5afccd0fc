"""Front panel: line protocol (``protocol``), host driver (``host``), simulator (``simulator``) and the panel's
own MicroPython firmware (``device/``)."""
