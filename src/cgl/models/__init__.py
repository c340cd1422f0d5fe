"""Models: GCN-family networks for node, link and graph level, sharing one class head."""

from cgl.models.cglb import CGLBGCN
from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.link import GCNLinkClassifier, GCNLinkPredictor, GCNPairEncoder
from cgl.models.node import GCNEncoder, GCNNode

__all__ = [
    "CGLBGCN",
    "GCNEncoder",
    "GCNLinkClassifier",
    "GCNLinkPredictor",
    "GCNNode",
    "GCNPairEncoder",
    "ObservedClassHead",
    "ObservedClassifier",
]
