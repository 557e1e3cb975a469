"""Every Python block of the documentation pages listed here runs, as written, in order, in a
temporary folder that holds the sample meshes; a block that raises fails the test."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

PAGES = ["docs/api.md", "docs/training.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each fenced ``python`` block of ``page``."""
    text = page.read_text()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks(REPO / page)
    assert blocks, f"{page} has no python block"
    (tmp_path / "sample_meshes").symlink_to(REPO / "sample_meshes")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except Exception as err:  # noqa: BLE001 - reported with the block's place
            pytest.fail(f"{page}, block at line {line}: {type(err).__name__}: {err}")


def test_blocks_are_found():
    page = "Text\n```python\nx = 1\n```\nmore\n```sh\nls\n```\n```python\ny = 2\n```\n"
    path = Path(__file__).parent / "__docs_probe.md"
    try:
        path.write_text(page)
        assert python_blocks(path) == [(3, "x = 1\n"), (10, "y = 2\n")]
    finally:
        path.unlink()
