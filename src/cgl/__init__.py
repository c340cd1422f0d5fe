"""cgl: continual learning on graphs — MAS and baselines over node, link and graph problems."""

__version__ = "0.1.0"
