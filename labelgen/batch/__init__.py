"""``labelgen batch``: render, derive and validate many buildings from one jobs file, resumable, local or on Dask."""

from labelgen.batch._driver import BatchResult, run_batch
from labelgen.batch._executors import SCHEDULERS, DaskExecutor, LocalExecutor
from labelgen.batch._jobs import LAYOUTS, Job, Layout, read_jobs
from labelgen.batch._store import StopBatch

__all__ = ["BatchResult", "run_batch", "SCHEDULERS", "DaskExecutor", "LocalExecutor", "LAYOUTS", "Job", "Layout",
           "read_jobs", "StopBatch"]
