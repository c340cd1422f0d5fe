"""Models for node, link and graph level, of any backbone (cgl.models.layers), sharing one
class head; the GCN* classes are the GCN ones BeGin builds."""

from cgl.models.cglb import CGLBGCN
from cgl.models.graph import GCNGraph, GraphClassifier
from cgl.models.heads import ObservedClassHead, ObservedClassifier
from cgl.models.link import (
    GCNLinkClassifier,
    GCNLinkPredictor,
    LinkClassifier,
    LinkPredictor,
    PairEncoder,
)
from cgl.models.node import GCNNode, GNNEncoder, NodeClassifier

__all__ = [
    "CGLBGCN",
    "GCNGraph",
    "GCNLinkClassifier",
    "GCNLinkPredictor",
    "GCNNode",
    "GNNEncoder",
    "GraphClassifier",
    "LinkClassifier",
    "LinkPredictor",
    "NodeClassifier",
    "ObservedClassHead",
    "ObservedClassifier",
    "PairEncoder",
]
