"""Run the examples of one documentation page, as a reader would: in a fresh interpreter, in a
folder laid out as a clone beside ``shared/``.

Usage: ``python tests/docs_runner.py PAGE WORKSPACE`` (PAGE relative to the repository). A page's
``python`` blocks and shell (``sh``, ``bash``) blocks run in document order in ``WORKSPACE/repo``,
the Python blocks in one namespace, each shell block with ``bash -euo pipefail``. A block that
cannot run here says so on the line before it, ``<!-- not run: <the reason> -->``; other fenced
blocks (``text``, ``yaml``, ``json``, none) are not commands. Exit status 0 when every block ran;
otherwise 1, with the page, the line and the error on stderr.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = {"python", "sh", "bash"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")


def blocks(text: str) -> list[dict]:
    """Each fenced block: its language, first line number, code, and the reason it is not run
    (None when it runs; only meaningful for the languages in RUN)."""
    out = []
    for m in FENCE.finditer(text):
        line = text[:m.start()].count("\n") + 1
        before = [ln for ln in text[:m.start()].splitlines() if ln.strip()]
        reason = NOT_RUN.search(before[-1]) if before else None
        out.append({"lang": m.group(1), "line": line + 1, "code": m.group(2),
                    "not_run": reason.group(1) if reason else None})
    return out


def workspace(root: Path, shared: Path | None) -> Path:
    """``root/repo`` with the sample meshes and the virtual environment linked in, beside
    ``root/shared`` (the shared reference data), as a clone sits beside ``shared/``."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "sample_meshes").symlink_to(REPO / "sample_meshes")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    if shared is not None and shared.is_dir():
        (root / "shared").symlink_to(shared)
    return repo


def run_page(page: str, repo: Path) -> str | None:
    """Run the page's blocks in ``repo``; the first failure as text, or None."""
    os.chdir(repo)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    namespace: dict = {"__name__": "__main__"}
    for b in blocks((REPO / page).read_text()):
        if b["lang"] not in RUN or b["not_run"] is not None:
            continue
        where = f"{page}:{b['line']}"
        if b["lang"] == "python":
            try:
                exec(compile(b["code"], where, "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - reported with the block's place
                import traceback

                return f"{where}: {type(err).__name__}: {err}\n{traceback.format_exc()[-3000:]}"
        else:
            res = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]], cwd=repo, env=env,
                                 capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                return f"{where}: exit {res.returncode}\n{b['code']}\n{res.stderr[-3000:]}"
    return None


if __name__ == "__main__":
    failure = run_page(sys.argv[1], Path(sys.argv[2]))
    if failure:
        print(failure, file=sys.stderr)
    sys.exit(1 if failure else 0)
