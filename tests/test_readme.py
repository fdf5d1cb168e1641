"""The README's Python examples run unchanged (in a scratch folder, one after the other)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2, "the README has a quickstart and a DataFrame example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    assert "User:u001 -[INTERACTED]->" in printed  # at least one explanation path
    rec = namespace["rec"]
    assert (tmp_path / ".kgrec/readme-model/model.safetensors").exists()
    assert "b999" in rec.snapshot.items.ids.tolist()
    assert len(rec.store.recommendations("u001", "kg_recsys")) == 10

    frames: dict = {}
    exec(compile(blocks[1], "README.md", "exec"), frames)  # noqa: S102 - the DataFrame example
    printed = capsys.readouterr().out
    assert "user_id" in printed and "scenario" in printed and "u002" in printed
    table = frames["rec"].recommend_frame(["u001", "u002"], k=3)
    assert table.user_id.tolist() == ["u001"] * 3 + ["u002"] * 3 and table["rank"].tolist() == [1, 2, 3] * 2
