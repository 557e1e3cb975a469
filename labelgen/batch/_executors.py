"""Where batch tasks run: a process pool on this machine, or Dask workers."""
from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import CancelledError

from labelgen.core._errors import LabelgenError

SCHEDULERS = ("local", "dask")

__all__ = ["SCHEDULERS", "LocalExecutor", "DaskExecutor", "make_executor"]


class LocalExecutor:
    """A process pool on this machine (the engine's worker processes: forked when safe, else
    spawned); a pool broken by a dying worker is replaced."""

    def __init__(self, workers: int):
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = self._start()

    def _start(self):
        from labelgen.engine._workers import new_pool

        return new_pool(self.workers)[0]

    def submit(self, fn, arg):
        return self._pool.submit(fn, arg)

    def wait(self, futures, timeout):
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)[0]

    def lost(self, err) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(err, BrokenProcessPool)

    def recover(self, running: dict) -> list:
        """After a task's worker was lost: a dead worker breaks the whole pool, so the pool is
        replaced and every task still in flight (``running``, future -> task, emptied) is
        returned, to run again.

        The broken pool has already stopped its other workers (SIGTERM); waiting for its
        manager thread to end (it joins them) leaves this process without threads, so that the
        new workers are forked again (milliseconds) rather than spawned (seconds each), and
        no worker of the old pool still writes when the new one starts."""
        tasks = list(running.values())
        running.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._start()
        return tasks

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Dask workers: a running cluster at ``address``, else a LocalCluster of ``workers``
    single-threaded worker processes. Dask itself re-runs the tasks of a lost worker."""

    def __init__(self, address: str | None, workers: int):
        import distributed
        from distributed import Client, LocalCluster

        self._distributed = distributed
        self.cluster = None
        if address:
            try:
                self.client = Client(address, timeout="30s")
            except (OSError, TimeoutError, ValueError) as err:
                raise LabelgenError("--address", f"cannot connect to the Dask scheduler at {address}: {err}") from None
            self.workers = max(1, sum(self.client.nthreads().values()))
            self.threads = 1  # ray-casting threads per task: run one single-threaded worker per core
        else:
            import dask

            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's
            # adaptive mmap threshold: every large temporary array is then mmapped and faulted
            # in again, about a quarter more CPU per view here; the sampling profiler costs more.
            environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                                  "distributed.worker.profile.enabled": False}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, host="127.0.0.1", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            self.workers = workers
            self.threads = max(1, (os.cpu_count() or 1) // workers)

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False)

    def wait(self, futures, timeout):
        try:
            return self._distributed.wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return set()

    def lost(self, err) -> bool:
        from distributed.scheduler import KilledWorker

        return isinstance(err, (KilledWorker, asyncio.CancelledError, CancelledError))

    def recover(self, running: dict) -> list:
        """After a task's worker was lost: Dask re-runs the other tasks of a lost worker
        itself, and the futures of other workers are fine, so ``running`` stays as it is and
        nothing is returned to run again."""
        return []

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(scheduler: str, workers: int, address: str | None):
    if scheduler not in SCHEDULERS:
        raise LabelgenError("--scheduler", f"must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    if workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    if address and scheduler != "dask":
        raise LabelgenError("--address", "needs --scheduler dask")
    if scheduler == "local":
        return LocalExecutor(workers)
    return DaskExecutor(address, workers)
