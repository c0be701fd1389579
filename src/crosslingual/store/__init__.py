"""The run store: one folder per run, named by the hash of its config, written atomically under a lock and
verified when read; the grids and studies that list runs, the memory guard that refuses what cannot fit, the
sweep that trains what is missing, and the cached tables derived from runs."""
