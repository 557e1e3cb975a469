"""Every example of the README and of docs/*.md runs as written.

A page's ``python`` blocks and shell (``sh``, ``bash``) blocks run in document order in one
temporary copy of the repository's folder layout (``sample_meshes/``, ``.venv`` and ``../shared``
linked in), the Python blocks in one namespace, each shell block with ``bash -euo pipefail``; a
block that fails fails the test, naming the page and the line. A block that cannot run here says
so on the line before it, ``<!-- not run: <the reason> -->``; other fenced blocks (``text``,
``yaml``, ``json``, none) are not commands. Every command's ``--help`` ends with the line that
names its page, and that page exists.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, _shared_reference

PAGES = sorted(["README.md"] + [p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")])
RUN = {"python", "sh", "bash"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")


def blocks(text: str) -> list[dict]:
    """Each fenced block: its language, first line number, code, and the reason it is not run
    (None when it runs; only for the languages in RUN)."""
    out = []
    for m in FENCE.finditer(text):
        line = text[:m.start()].count("\n") + 1
        before = [ln for ln in text[:m.start()].splitlines() if ln.strip()]
        reason = NOT_RUN.search(before[-1]) if before else None
        out.append({"lang": m.group(1), "line": line + 1, "code": m.group(2),
                    "not_run": reason.group(1) if reason else None})
    return out


def _workspace(tmp_path: Path) -> Path:
    """``tmp/repo`` with the sample meshes and the virtual environment linked in, beside
    ``tmp/shared`` (the shared reference data), as a clone sits beside ``shared/``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "sample_meshes").symlink_to(REPO / "sample_meshes")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    shared = _shared_reference().parent
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    return repo


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_example_runs(page, tmp_path, monkeypatch):
    code = [b for b in blocks((REPO / page).read_text()) if b["lang"] in RUN]
    for b in code:
        assert b["not_run"] is None or len(b["not_run"]) > 8, f"{page}:{b['line']}: say why it is not run"
    code = [b for b in code if b["not_run"] is None]
    if not code:
        return  # a page without runnable examples (its blocks are prose, tables or marked)
    repo = _workspace(tmp_path)
    monkeypatch.chdir(repo)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    namespace: dict = {"__name__": "__docs__"}
    for b in code:
        where = f"{page}:{b['line']}"
        if b["lang"] == "python":
            try:
                exec(compile(b["code"], where, "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - reported with the block's place
                pytest.fail(f"{where}: {type(err).__name__}: {err}")
        else:
            res = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]], cwd=repo, env=env,
                                 capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, f"{where}: exit {res.returncode}\n{b['code']}\n{res.stderr[-3000:]}"


def test_the_readme_main_command_runs(tmp_path):
    """The fresh-machine command, less the setup that CI runs through .ci/run."""
    readme = blocks((REPO / "README.md").read_text())
    first = next(b for b in readme if b["lang"] == "sh")["code"].strip()
    setup = "./scripts/setup.sh && "
    assert first.startswith(setup) and " render " in first
    repo = _workspace(tmp_path)
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", first[len(setup):] + " --quiet --resolution 64"],
                         cwd=repo, capture_output=True, text=True, timeout=600)
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
