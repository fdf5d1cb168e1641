import os
import subprocess
import sys

import numpy as np
import pytest

from kg_recsys.config import TextConfig
from kg_recsys.text import TextEncoder, default_model_path


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    enc = TextEncoder(TextConfig(cache_dir=str(tmp_path_factory.mktemp("cache"))))
    yield enc
    enc.close()


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
    short = TextEncoder(TextConfig(cache_dir=str(tmp_path), max_length=16))
    full = TextEncoder(TextConfig(cache_dir=str(tmp_path), max_length=128))
    assert short.model_key != full.model_key
    short.encode(["a text"])
    full.encode(["a text"])
    assert full.encoded_count == 1  # not served from the other model's cache


def test_matches_sentence_transformers(encoder):
    sentence_transformers = pytest.importorskip("sentence_transformers")  # a declared test extra
    model = sentence_transformers.SentenceTransformer(default_model_path(), device="cpu")
    texts = ["a short text", "a much longer text about knowledge graphs and recommendation engines"]
    expected = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(encoder.encode(texts), expected, atol=1e-5)


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
