"""Every example of the README and of docs/*.md runs as written (``tests/docs_runner.py``: each
page in a fresh interpreter, in a folder laid out as a clone beside ``shared/``; a block that
fails fails the test, naming the page and the line; a block that cannot run here says why on the
line before it, ``<!-- not run: <the reason> -->``). Every command's ``--help`` ends with the line
that names its page, and that page exists.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, _shared_reference
from docs_runner import blocks, workspace

PAGES = sorted(["README.md"] + [p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")])
RUN = {"python", "sh", "bash"}


def _fresh_env() -> dict:
    """The environment of a reader's fresh shell: none of the settings labelgen's command line
    gives its own process (the tests run it in this one)."""
    return {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_example_runs(page, tmp_path):
    code = [b for b in blocks((REPO / page).read_text()) if b["lang"] in RUN]
    for b in code:
        assert b["not_run"] is None or len(b["not_run"]) > 8, f"{page}:{b['line']}: say why it is not run"
    if all(b["not_run"] is not None for b in code):
        return  # a page without runnable examples (its blocks are prose, tables or marked)
    repo = workspace(tmp_path, _shared_reference().parent)
    res = subprocess.run([sys.executable, str(Path(__file__).with_name("docs_runner.py")), page, str(repo)],
                         env=_fresh_env(), capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-6000:]


def test_the_readme_main_command_runs(tmp_path):
    """The fresh-machine command, less the setup that CI runs through .ci/run."""
    readme = blocks((REPO / "README.md").read_text())
    first = next(b for b in readme if b["lang"] == "sh")["code"].strip()
    setup = "./scripts/setup.sh && "
    assert first.startswith(setup) and " render " in first
    repo = workspace(tmp_path, None)
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", first[len(setup):] + " --quiet --resolution 64"],
                         cwd=repo, env=_fresh_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert len(list((repo / "out" / "apartment" / "point_info").glob("*.json"))) == 10


def test_blocks_and_reasons_are_found():
    page = ("Text\n```python\nx = 1\n```\nmore\n<!-- not run: needs a cluster of machines -->\n"
            "```sh\nls\n```\n```text\nlabelgen X\n```\n")
    found = blocks(page)
    assert [(b["lang"], b["line"], b["code"], b["not_run"]) for b in found] == [
        ("python", 3, "x = 1\n", None), ("sh", 8, "ls\n", "needs a cluster of machines"),
        ("text", 11, "labelgen X\n", None)]


def test_every_help_ends_with_its_docs_page():
    from labelgen.cli._main import COMMANDS, DOCS

    for command in [None, *COMMANDS]:
        args = [sys.executable, "-m", "labelgen"] + ([command] if command else []) + ["--help"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
        last = out.strip().splitlines()[-1]
        assert last == f"Documentation: {DOCS[command]} (in the labelgen source tree)", (command, last)
        assert (REPO / DOCS[command]).is_file(), DOCS[command]


def test_labels_page_covers_every_label():
    from labelgen.labels import all_labels

    text = (REPO / "docs" / "labels.md").read_text()
    headed = set(re.findall(r"^### (\w+)", text, re.M))
    assert headed == set(all_labels()), headed ^ set(all_labels())
