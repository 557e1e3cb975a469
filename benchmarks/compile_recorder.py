"""Record every Numba compilation of a ``labelgen`` subprocess and of the processes it starts.

:func:`install` writes :data:`SITECUSTOMIZE` as ``sitecustomize.py`` in a folder put on the
subprocess's ``PYTHONPATH``; each Python process started from it then logs, through
``numba.core.event``, every compilation (wall start and end, CPU seconds with what it compiles
inside and without, function, argument types) and the exclusive CPU seconds of each compiler
pass (``(llvm)``: time holding Numba's LLVM lock, i.e. LLVM's optimisation and code
generation; ``(dispatcher)``: a compilation's own time outside any pass), and writes them to
``<log>/<pid>.json`` when it ends. A forked ``multiprocessing`` child (which ends without
running ``atexit``) starts its own log. :func:`read` returns the records.

Used by ``bench_full.py --compile-profile`` and ``bench_compile.py``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: written as sitecustomize.py in every recorded process
SITECUSTOMIZE = r'''
import atexit, collections, json, os, re, time
import numba.core.event as _ev
_stack, _log = [], []
_passes = collections.defaultdict(float)
class _Rec(_ev.Listener):
    def __init__(self, kind):
        self.kind = kind
    def on_start(self, event):
        # [wall start, CPU start, CPU of nested events, CPU of nested compilations]
        _stack.append([time.time(), time.process_time(), 0.0, 0.0])
    def on_end(self, event):
        t0, c0, child, cchild = _stack.pop()
        tot = time.process_time() - c0
        if _stack:
            _stack[-1][2] += tot
            if self.kind == "compile":
                _stack[-1][3] += tot
            else:
                _stack[-1][3] += cchild
        if self.kind == "compile":
            f = event.data["dispatcher"].py_func
            _log.append([t0, time.time(), tot, tot - cchild, f.__module__ + "." + f.__qualname__,
                         str(event.data["args"])])
            _passes["(dispatcher)"] += tot - child
        elif self.kind == "pass":
            _passes[re.sub(r" \[.*", "", event.data["name"])] += tot - child
        else:
            _passes["(llvm)"] += tot - child
_ev.register("numba:compile", _Rec("compile"))
_ev.register("numba:run_pass", _Rec("pass"))
_ev.register("numba:llvm_lock", _Rec("llvm"))
def _dump():
    with open(os.path.join(os.environ["BENCH_COMPILE_LOG"], "%d.json" % os.getpid()), "w") as f:
        json.dump({"compilations": _log, "passes": _passes, "exit": [time.time(), time.process_time()]}, f)
atexit.register(_dump)
import multiprocessing.util as _mu
class _Hook:
    pass
_hook = _Hook()
def _after_fork(_):
    del _log[:], _stack[:]
    _passes.clear()
    _mu.Finalize(None, _dump, exitpriority=0)
_mu.register_after_fork(_hook, _after_fork)
'''


def install(folder: Path, env: dict) -> Path:
    """Make the processes started with ``env`` record their compilations: writes the
    ``sitecustomize`` module under ``folder/site`` and returns the log folder
    (``folder/log``)."""
    site, log = Path(folder) / "site", Path(folder) / "log"
    site.mkdir(exist_ok=True)
    log.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["BENCH_COMPILE_LOG"] = str(log)
    return log


def read(log: Path) -> dict[int, dict]:
    """The records of each process, by pid: ``compilations`` (``[wall start, wall end, CPU s,
    CPU s without nested compilations, function, argument types]``), ``passes`` (exclusive
    CPU s by pass) and ``exit`` (``[wall time, CPU s of the process]``)."""
    return {int(p.stem): json.loads(p.read_text()) for p in sorted(Path(log).glob("*.json"))}
