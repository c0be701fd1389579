"""crosslingual: an executable companion to three papers on multilingual representations in language models."""

from crosslingual.config import ConfigError, RunConfig, make_config

__version__ = "0.1.0"
__all__ = ["ConfigError", "RunConfig", "make_config", "__version__"]
