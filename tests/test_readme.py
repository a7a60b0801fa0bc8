"""The README's "Add your own paper" blocks run exactly as written."""

import re
from pathlib import Path

import pytest

from ganlit.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (\S+) -->\n```\w+\n(.*?)```", re.S)


def readme_files() -> dict[str, str]:
    files = dict(BLOCK.findall(README.read_text()))
    assert {"my_papers.py", "my_wgan.yaml", "my_smooth_cgan.yaml"} <= set(files)
    return files


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["my_wgan.yaml", "my_smooth_cgan.yaml"])
def test_readme_extension_examples_train(recipe, tmp_path, monkeypatch):
    for name, text in readme_files().items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["fit", "--config", recipe, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "6",
                 "--trainer.enable_progress_bar", "false", f"--trainer.default_root_dir={tmp_path}"]) == 0
    import my_papers

    if recipe == "my_wgan.yaml":
        # WGAN-GP's defaults took: five critic steps per generator step.
        assert my_papers.WGANGP().pattern == ["D", "D", "D", "D", "DG"]
