# The panel firmware (MicroPython). A package on the host only so the simulator can run the same core logic.
