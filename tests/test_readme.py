"""The README's Python example runs unchanged (in a scratch folder)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    assert "User:u001 -[INTERACTED]->" in printed  # at least one explanation path
    rec = namespace["rec"]
    assert (tmp_path / ".kgrec/readme-model/model.safetensors").exists()
    assert "b999" in rec.snapshot.items.ids.tolist()
    assert len(rec.store.recommendations("u001", "kg_recsys")) == 10
