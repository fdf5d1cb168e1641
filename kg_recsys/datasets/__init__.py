"""Datasets the project ships itself (synthetic only; real data sets are read by ``ingest``)."""
from kg_recsys.datasets.demo import DEMO_VERSION, write_demo_dataset

__all__ = ["DEMO_VERSION", "write_demo_dataset"]
