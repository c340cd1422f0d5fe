"""cgl: continual learning on graphs — MAS and baselines over node, link and graph problems."""

from cgl.config import schema as _schema  # noqa: F401  registers the typed config schema with Hydra

__version__ = "0.1.0"
