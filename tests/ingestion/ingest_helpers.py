"""Helpers shared by the ingestion tests (a module, not conftest, so test files can import it)."""
from __future__ import annotations

from pathlib import Path


def write_csv(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path
