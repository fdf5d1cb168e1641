"""Ingestion: per-source readers -> validated canonical rows -> any GraphStore.

``ingest_source(source, store)`` takes a canonical dataset folder, an ``.ttl``/``.nt``
file, ``demo`` or a dataset name (``lastfm-kg``, ``ml-100k-kg``, ``ml-100k-kg-relinked``,
``ml-1m``, ``douban-cdr``, ``amazon-cdr-ids/<pair>``, ``amazon-food-kitchen``);
``load_snapshot(source)`` returns the training snapshot of the same, cached.
"""
from ingest.base import IngestError, Reject, Rejects
from ingest.runner import IngestSummary, ingest_source, load_snapshot, resolve_data_dir, resolve_source

__all__ = ["IngestError", "IngestSummary", "Reject", "Rejects", "ingest_source", "load_snapshot",
           "resolve_data_dir", "resolve_source"]
