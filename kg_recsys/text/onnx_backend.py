"""The ONNX Runtime backend of :class:`~kg_recsys.text.TextEncoder`.

The Hugging Face model (with mean pooling and L2 normalisation inside the graph) is exported
once with ``torch.onnx.export`` and its matrix products get 8-bit weights with block-wise
int8 products (ONNX Runtime's ``MatMulNBits``, ``accuracy_level=4``). Per-tensor dynamic
int8 (``quantize_dynamic``) was faster but moved some vectors to cosine 0.98 of torch's;
blocks of 128 keep every vector above 0.99 (benchmarks/results/text_encoder.md).

The export lives in ``[text] onnx_dir``, one folder per model and export settings, written
to a temporary folder and renamed into place: a reader sees a whole export or none, and two
processes exporting at once both end with the same one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

#: What an export is made with; part of its folder's name and of the vector cache key.
EXPORT_SETTINGS = {"format": 1, "opset": 17, "weights": "int8", "block_size": 128, "accuracy_level": 4}
#: The packages the backend needs: onnxruntime runs it, onnx and onnx_ir export it.
REQUIRED = ("onnxruntime", "onnx", "onnx_ir")
MODEL_FILE = "model.onnx"


def missing_packages() -> list[str]:
    """The packages of :data:`REQUIRED` that cannot be imported (empty: the backend works)."""
    import importlib.util

    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def export_folder(root: str, model_key: str) -> Path:
    """The folder of one export: the model, the export settings and the versions of the
    exporting libraries (a new torch or onnxruntime exports again)."""
    import onnxruntime

    identity = json.dumps({"model": model_key, "settings": EXPORT_SETTINGS,
                           "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}, sort_keys=True)
    return Path(root, hashlib.sha256(identity.encode()).hexdigest()[:16])


def ensure_export(model_path: str, root: str, model_key: str, progress: bool) -> tuple[Path, bool]:
    """The ONNX file of ``model_path``, exported first if ``root`` has none.

    Returns:
        ``(path of model.onnx, whether this call exported it)``.
    """
    folder = export_folder(root, model_key)
    if (folder / MODEL_FILE).is_file():
        return folder / MODEL_FILE, False
    Path(root).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".export-"))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide a shared export from other users
    if progress:
        print(f"exporting the text model to ONNX, once (about 15 s): {folder}", file=sys.stderr, flush=True)
    try:
        _export(model_path, staging, progress)
        (staging / "settings.json").write_text(json.dumps({"model_path": model_path, "model_key": model_key,
                                                            **EXPORT_SETTINGS}, indent=2))
        try:
            os.rename(staging, folder)  # atomic; fails if another process renamed its export first
        except OSError:
            if not (folder / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / MODEL_FILE, True


class _Pooled(torch.nn.Module):
    """The exported module: the encoder, then mean pooling over real tokens and L2
    normalisation, as :meth:`TextEncoder._encode_uncached` does in torch."""

    def __init__(self, model: torch.nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, inputs))
        hidden = self.model(**named).last_hidden_state
        mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


def _export(model_path: str, folder: Path, progress: bool) -> None:
    import onnx
    from transformers import AutoModel, AutoTokenizer

    from kg_recsys.text.encoder import _transformers_progress

    with _transformers_progress(progress):
        tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        # Eager attention exports as plain MatMul/Softmax nodes, which the quantizer handles.
        model = AutoModel.from_pretrained(model_path, local_files_only=True, attn_implementation="eager").eval()
    names = list(tokenizer.model_input_names)
    sample = tokenizer(["a short text", "a somewhat longer sample text"], padding=True, return_tensors="pt")
    fp32 = folder / "fp32.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with warnings.catch_warnings(), torch.inference_mode():
        # The TorchScript exporter (dynamo=False) needs no onnxscript; its tracer warnings
        # are about Python control flow that is constant for this model.
        warnings.simplefilter("ignore")
        torch.onnx.export(_Pooled(model, names).eval(), tuple(sample[name] for name in names), str(fp32),
                          input_names=names, output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}},
                          opset_version=EXPORT_SETTINGS["opset"], dynamo=False)
    with _quiet_root_logger():
        from onnxruntime.quantization import matmul_nbits_quantizer as nbits
    config = nbits.DefaultWeightOnlyQuantConfig(block_size=EXPORT_SETTINGS["block_size"], is_symmetric=True,
                                                accuracy_level=EXPORT_SETTINGS["accuracy_level"], bits=8)
    quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(folder / MODEL_FILE), False)
    fp32.unlink()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's ``matmul_nbits_quantizer`` calls ``logging.basicConfig(level=INFO)`` on
    import, which would print every later INFO line of the host process: undo it, and keep
    its own per-node INFO lines out."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)


class OnnxSession:
    """One ONNX Runtime session on the CPU; ``__call__`` maps tokenizer output to vectors.

    Shapes:
        tokens ``[B, T]`` int arrays (the names of the tokenizer's output) -> float32 ``[B, dim]``,
        L2-normalised.
    """

    def __init__(self, model_file: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings are about unused initialisers
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.inputs = [node.name for node in self.session.get_inputs()]

    def __call__(self, tokens) -> np.ndarray:
        return self.session.run(None, {name: np.asarray(tokens[name], dtype=np.int64) for name in self.inputs})[0]
