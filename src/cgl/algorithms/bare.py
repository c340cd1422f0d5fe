"""Bare: plain fine-tuning, task after task (the lower bound). It is the level trainer itself."""

from cgl.algorithms.method import Method, export

METHOD = Method(name="bare", title="Bare", mixin=None)
__all__ = export(METHOD, globals())
