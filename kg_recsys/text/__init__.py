"""Text features: a pretrained language model turns node text into starting vectors."""
from __future__ import annotations

import numpy as np

from kg_recsys.config import TextConfig
from kg_recsys.schema import NODE_LABELS
from kg_recsys.store.base import GraphSnapshot
from kg_recsys.text.encoder import TextEncoder, default_model_path

__all__ = ["TextConfig", "TextEncoder", "default_model_path", "snapshot_text_vectors"]


def snapshot_text_vectors(snapshot: GraphSnapshot, encoder: TextEncoder) -> dict[str, np.ndarray]:
    """Text vectors of every node, keyed by label; zero rows where a node has no text."""
    return {label: encoder.encode(snapshot.nodes(label).text.tolist()) for label in NODE_LABELS}
