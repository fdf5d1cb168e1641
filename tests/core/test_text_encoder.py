import os
import subprocess
import sys

import numpy as np
import pytest

from kg_recsys.config import TextConfig
from kg_recsys.text import TextEncoder, default_model_path


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    enc = TextEncoder(TextConfig(cache_dir=str(tmp_path_factory.mktemp("cache")), backend="torch"))
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    """One export for the module (about 10 s); later encoders in it reuse that export."""
    return str(tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def onnx_encoder(onnx_dir):
    pytest.importorskip("onnxruntime")  # the `fast` extra, also in the test extra
    enc = TextEncoder(TextConfig(cache_dir=None, backend="onnx", onnx_dir=onnx_dir))
    assert enc.exported  # a fresh folder: this construction exported the model
    return enc


def test_vectors_are_normalised_and_empty_text_is_zero(encoder):
    vectors = encoder.encode(["a space opera about starships", "", "a cosy village mystery"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not vectors[1].any()


def test_similar_texts_are_closer_than_unrelated_ones(encoder):
    a, b, c = encoder.encode(["a science fiction novel about robots", "a robot sci-fi book",
                              "a cookbook of italian pasta recipes"])
    assert a @ b > a @ c + 0.2


def test_second_run_encodes_nothing_and_returns_the_same_vectors(tmp_path):
    texts = [f"item number {i} about topic {i % 7}" for i in range(50)] + ["item number 0 about topic 0"]
    first = TextEncoder(TextConfig(cache_dir=str(tmp_path)))
    v1 = first.encode(texts)
    assert first.encoded_count == 50  # the duplicate text is encoded once
    first.close()
    second = TextEncoder(TextConfig(cache_dir=str(tmp_path)))
    v2 = second.encode(texts)
    assert second.encoded_count == 0
    np.testing.assert_array_equal(v1, v2)
    second.close()


def test_cache_is_keyed_by_model(tmp_path):
    short = TextEncoder(TextConfig(cache_dir=str(tmp_path), max_length=16, backend="torch"))
    full = TextEncoder(TextConfig(cache_dir=str(tmp_path), max_length=128, backend="torch"))
    assert short.model_key != full.model_key
    short.encode(["a text"])
    full.encode(["a text"])
    assert full.encoded_count == 1  # not served from the other model's cache


def test_matches_sentence_transformers(encoder, onnx_encoder):
    sentence_transformers = pytest.importorskip("sentence_transformers")  # a declared test extra
    model = sentence_transformers.SentenceTransformer(default_model_path(), device="cpu")
    texts = ["a short text", "a much longer text about knowledge graphs and recommendation engines"]
    expected = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(encoder.encode(texts), expected, atol=1e-5)  # torch: the same fp32 model
    assert ((onnx_encoder.encode(texts) * expected).sum(1) >= 0.99).all()  # int8: close, not equal


#: Short, long (past max_length: truncated), non-ASCII, empty and blank texts.
MIXED_TEXTS = ["jazz", "", "a science fiction novel about robots and the people who build them",
               "Björk — Homogenic (1997) électronique", "   ",
               " ".join(f"word{i} rock pop indie electronic" for i in range(200)),
               "The Beatles; tags: rock, 60s, british invasion, psychedelic"]


def test_onnx_vectors_are_close_to_torch_ones(encoder, onnx_encoder):
    torch_vectors, onnx_vectors = encoder.encode(MIXED_TEXTS), onnx_encoder.encode(MIXED_TEXTS)
    text = np.array([bool(t.strip()) for t in MIXED_TEXTS])
    assert not onnx_vectors[~text].any() and not torch_vectors[~text].any()
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors[text], axis=1), 1.0, atol=1e-5)
    cosine = (torch_vectors[text] * onnx_vectors[text]).sum(1)
    assert cosine.min() >= 0.99, cosine
    # Truncation is the tokenizer's, the same for both: a longer tail changes nothing.
    long_text = MIXED_TEXTS[5]
    np.testing.assert_allclose(onnx_encoder.encode([long_text + " more words at the end"]),
                               onnx_vectors[[5]], atol=1e-6)


def test_second_construction_reuses_the_export(onnx_encoder, onnx_dir):
    before = os.stat(onnx_encoder.onnx_file).st_mtime_ns
    again = TextEncoder(TextConfig(cache_dir=None, backend="onnx", onnx_dir=onnx_dir))
    assert not again.exported and again.onnx_file == onnx_encoder.onnx_file
    assert os.stat(again.onnx_file).st_mtime_ns == before
    assert os.listdir(onnx_dir) == [onnx_encoder.onnx_file.parent.name]  # no staging folder left
    np.testing.assert_array_equal(again.encode(["a text"]), onnx_encoder.encode(["a text"]))


def test_export_that_loses_the_race_keeps_the_winner(tmp_path, monkeypatch):
    # Two processes export at once: the second rename fails, and its caller uses the first.
    from kg_recsys.text import onnx_backend

    pytest.importorskip("onnxruntime")
    target = onnx_backend.export_folder(str(tmp_path), "key")

    def export_while_another_process_finishes(model_path, folder, progress):
        (folder / onnx_backend.MODEL_FILE).write_text("ours")
        target.mkdir()
        (target / onnx_backend.MODEL_FILE).write_text("theirs")

    monkeypatch.setattr(onnx_backend, "_export", export_while_another_process_finishes)
    path, exported = onnx_backend.ensure_export("model", str(tmp_path), "key", progress=False)
    assert path == target / onnx_backend.MODEL_FILE and path.read_text() == "theirs"
    assert os.listdir(tmp_path) == [target.name]


def test_cache_is_keyed_by_backend(tmp_path, onnx_dir, onnx_encoder):
    on_torch = TextEncoder(TextConfig(cache_dir=str(tmp_path), backend="torch"))
    on_onnx = TextEncoder(TextConfig(cache_dir=str(tmp_path), backend="onnx", onnx_dir=onnx_dir))
    assert on_torch.model_key != on_onnx.model_key
    on_torch.encode(["a text"])
    on_onnx.encode(["a text"])
    assert on_onnx.encoded_count == 1  # not served from torch's vectors


def test_auto_backend_falls_back_to_torch_with_a_note(monkeypatch, caplog):
    from kg_recsys.text import encoder as encoder_module
    from kg_recsys.text import onnx_backend

    monkeypatch.setattr(onnx_backend, "missing_packages", lambda: ["onnxruntime"])
    assert encoder_module.resolve_backend("auto") == "torch"
    assert "kg-recsys[fast]" in caplog.text and len(caplog.records) == 1
    with pytest.raises(RuntimeError, match=r"backend = 'onnx' needs onnxruntime"):
        encoder_module.resolve_backend("onnx")
    monkeypatch.setattr(onnx_backend, "missing_packages", lambda: [])
    assert encoder_module.resolve_backend("auto") == "onnx"


def test_backend_setting_is_checked():
    from kg_recsys.config import ConfigError

    with pytest.raises(ConfigError, match=r"\[text\] backend"):
        TextConfig(backend="tensorflow")


def test_loads_offline_from_the_packaged_model(tmp_path):
    code = ("from kg_recsys.text import TextEncoder; from kg_recsys.config import TextConfig; "
            f"print(TextEncoder(TextConfig(cache_dir={str(tmp_path)!r})).encode(['offline']).shape)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(1, 384)" in out.stdout


def test_missing_model_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_path"):
        TextEncoder(TextConfig(model_path=str(tmp_path / "nope"), cache_dir=None))


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_above_the_threshold_unless_turned_off(tmp_path, capsys, progress):
    # kgrec evaluate --no-progress passes progress=False: log files get no bar.
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()
    encoder = TextEncoder(TextConfig(cache_dir=None, progress_threshold=2, batch_size=2), progress=progress)
    encoder.encode(["one text", "another text", "a third text"])
    err = capsys.readouterr().err
    assert ("encoding text" in err) is progress
    if not progress:
        assert "Loading weights" not in err  # transformers' own bar, while loading the model
    # transformers' global switch is the caller's: it is on again after loading.
    assert transformers_logging.is_progress_bar_enabled()
