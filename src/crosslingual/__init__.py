"""crosslingual: an executable companion to three papers on multilingual representations in language models."""

from crosslingual.core.config import RunConfig, make_config
from crosslingual.errors import ConfigError

__version__ = "0.1.0"
__all__ = ["ConfigError", "RunConfig", "make_config", "__version__"]
