"""The compute tier: a validated config, the synthetic world it describes, the model, its training (one run or
K runs stacked) and the metrics measured at checkpoints. Pure Python and PyTorch; no file of the store is read
or written here."""
