"""Data-parallel GNN training: ``kgrec train`` in two gloo processes on loopback (a free
port, through torch's elastic launcher) against one process, on the demo graph."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from kg_recsys.cli import main
from kg_recsys.threads import torch_threads
from kg_recsys.training import GNNTrainer, distributed

#: Id embeddings only (no text encoder in each rank) and no ranker: the GNN is what runs
#: in parallel. Batch 1024: the demo's 6.4k training interactions take 7 steps an epoch.
CONFIG = "[model]\nuse_text = false\n[train]\nbatch_size = 1024\n[rank]\nenabled = false\n"
EPOCHS = 8
#: Best validation recall@20 of these 8 epochs, seeds 0-4, in one process: 0.3784 0.3511
#: 0.3891 0.3910 0.3636 (a 0.040 range: the holdout is ~600 interactions of 300 users); in
#: two: 0.3673 0.3521 0.3822 0.3881 0.3757 (means 0.3746 and 0.3731). Seed for seed (the
#: same holdout and initial weights) the two differ by at most 0.012.
TOLERANCE = 0.03


def _argv(root, *more: str) -> list[str]:
    (root / "small.toml").write_text(CONFIG)
    return ["train", *more, "--store", f"memory:{root / 'graph'}", "--model-dir", str(root / "model"),
            "--epochs", str(EPOCHS), "--config", str(root / "small.toml"), "--no-progress", "--k", "3"]


def _record(seen: list, fitted: list, patch=setattr) -> None:
    """Record each step's interactions and the fitted model (``patch``: ``setattr`` in a
    rank's own process, ``monkeypatch.setattr`` in the test's)."""
    import kg_recsys.training as training

    step, fit_model = GNNTrainer.step, training.fit_model

    def recording_step(self, batch):
        seen.append((self.epochs_done, batch.numpy().copy()))
        return step(self, batch)

    def recording_fit(*args, **kwargs):
        fitted.append(fit_model(*args, **kwargs))
        return fitted[-1]

    patch(GNNTrainer, "step", recording_step)
    patch(training, "fit_model", recording_fit)


def _rank(argv: list[str]) -> dict:
    """One rank: ``kgrec train`` as torchrun would start it (the rank in the environment)."""
    seen, fitted = [], []
    _record(seen, fitted)
    world = distributed.init_from_env()
    threads = torch.get_num_threads()
    code = main(argv)
    model = fitted[0]
    return {"code": code, "rank": world.rank, "size": world.size, "threads": threads, "seen": seen,
            "history": model.history, "ranker": model.ranker is not None,
            "parameters": torch.cat([p.detach().reshape(-1) for p in model.gnn.parameters()]).numpy()}


def _best(history: list[dict]) -> float:
    return max(h["valid_recall@20"] for h in history)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """``{rank: what it recorded}`` and rank 0's JSON line, after ``kgrec train demo`` in 2 ranks."""
    root = tmp_path_factory.mktemp("two")
    capture = root / "out.txt"
    # The ranks write to this process's stdout: catch it in a file (pytest holds sys.stdout).
    saved = os.dup(1)
    with open(capture, "w") as out:
        os.dup2(out.fileno(), 1)
        try:
            ranks = distributed.launch(2, _rank, _argv(root, "demo"))
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    lines = [line for line in capture.read_text().splitlines() if line.startswith("{")]
    return ranks, lines, root


def test_rank_0_alone_saves_and_reports(two_ranks):
    ranks, lines, root = two_ranks
    assert sorted(ranks) == [0, 1] and [ranks[r]["rank"] for r in (0, 1)] == [0, 1]
    assert {ranks[r]["code"] for r in ranks} == {0} and ranks[0]["size"] == 2
    assert len(lines) == 1  # rank 0 reports, rank 1 does not
    summary = json.loads(lines[0])
    assert summary["processes"] == 2 and summary["epochs"] == len(ranks[0]["history"])
    assert summary["recommended_written"] == 300 * 3 and (root / "model" / "model.safetensors").is_file()
    # cores / processes torch threads each while training.
    assert ranks[1]["threads"] == max(1, distributed.machine_cores() // 2)


def test_two_ranks_train_on_disjoint_shards_of_every_epoch(two_ranks):
    ranks, _, _ = two_ranks
    epochs = len(ranks[0]["history"])
    assert epochs == len(ranks[1]["history"]) >= 2
    shards = {}
    for rank, result in ranks.items():
        for epoch in range(epochs):
            batches = [b for e, b in result["seen"] if e == epoch]
            assert [len(b) for b in batches[:-1]] == [512] * (len(batches) - 1)  # half of one process's 1024
            shard = np.concatenate(batches)
            assert len(np.unique(shard)) == len(shard)  # no interaction twice in an epoch
            shards[rank, epoch] = set(shard.tolist())
    trained = len(set().union(*shards.values()))
    for epoch in range(epochs):
        assert not shards[0, epoch] & shards[1, epoch]
        assert len(shards[0, epoch]) == len(shards[1, epoch])  # as many steps on each rank
        assert trained - len(shards[0, epoch] | shards[1, epoch]) <= 1  # all but at most size - 1
    assert shards[0, 0] != shards[0, 1]  # a new shard each epoch


def test_the_replicas_end_equal_with_one_history(two_ranks):
    ranks, _, _ = two_ranks
    np.testing.assert_array_equal(ranks[0]["parameters"], ranks[1]["parameters"])
    for key in ("valid_recall@20", "loss"):
        assert [h[key] for h in ranks[0]["history"]] == [h[key] for h in ranks[1]["history"]]


def test_two_ranks_validate_within_noise_of_one_process(two_ranks, tmp_path, capfd, monkeypatch):
    ranks, _, _ = two_ranks
    seen, fitted = [], []
    _record(seen, fitted, monkeypatch.setattr)
    with torch_threads(1):
        assert main(_argv(tmp_path, "demo")) == 0
    one, two = _best(fitted[0].history), _best(ranks[0]["history"])
    assert abs(two - one) <= TOLERANCE, (two, one)


def test_nproc_under_torchrun_is_an_error(monkeypatch, capsys):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    assert main(["train", "--nproc", "2"]) == 2
    assert "under torchrun leave it out" in capsys.readouterr().err


def test_nproc_2_ends_with_the_ranks_error_and_code_2(tmp_path, capfd):
    code = main(["train", "--nproc", "2", "--store", f"memory:{tmp_path / 'empty'}", "--no-progress"])
    assert code == 2
    assert "kgrec train: error: the store has no interactions" in capfd.readouterr().err
