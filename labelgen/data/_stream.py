"""``ViewStream``: an endless iterable of freshly sampled views, split across DataLoader workers."""
from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.data._inputs import building_seed, buildings_from, sample_options
from labelgen.data._views import Options, SamplingFailed, camera_of, make_item

__all__ = ["ViewStream"]

log = logging.getLogger("labelgen")


def _worker() -> tuple[int, int]:
    """(this DataLoader worker's id, number of workers); (0, 1) outside a worker."""
    data = sys.modules.get("torch.utils.data")
    info = data.get_worker_info() if data is not None else None
    return (0, 1) if info is None else (int(info.id), int(info.num_workers))


class ViewStream:
    """An endless stream of views sampled afresh: the items of :class:`ViewDataset`, forever.

    The stream is a sequence of samples: sample ``u`` is round ``r = u // B`` of the ``B``
    buildings (taken in an order shuffled per round), sampled by the rules of ``labelgen sample``
    with a seed made from the building's seed and the round, and gives its first
    ``views_per_sample`` views (``index = u * views_per_sample + j``). With DataLoader workers,
    worker ``w`` of ``W`` takes the samples ``u = w, w + W, ...``: no view twice, and the same
    views for the same seed on every run.

    Parameters are :class:`ViewDataset`'s (the meshes, or a jobs file whose render jobs' meshes,
    sample options, tasks and parameters are used; camera files are not), with
    ``views_per_sample`` (default 10) in place of ``num_views``. A sample that cannot give
    ``views_per_sample`` views (no point seen from enough cameras) is skipped with a warning
    (logger ``labelgen``), and so is the next; ``max(3, 2 B)`` such samples in a row stop the
    stream with an error, as do errors while rendering.
    """

    def __new__(cls, *args, **kwargs):
        if cls is ViewStream and "torch.utils.data" in sys.modules:
            cls = _torch_stream()  # a torch IterableDataset, for the DataLoader
        return super().__new__(cls)

    def __init__(self, meshes=None, *, jobs=None, tasks=None, resolution=None, views_per_sample: int = 10,
                 fov_range=None, seed: int = 0, sample=None, params=None, decode: bool = True,
                 channels_first: bool = False, fill: float = 0.0, convention: str = "blender", up_axis=None,
                 backend: str = "open3d", cache_meshes: int = 2, threads: int | None = None):
        self.options = Options(bool(decode), bool(channels_first), fill, convention, cache_meshes, threads).check()
        buildings = buildings_from(meshes, jobs, None, tasks, resolution, None, views_per_sample, fov_range, seed,
                                   sample, params, up_axis, backend)
        for i, b in enumerate(buildings):
            if b.cameras is not None:  # a job's camera file: sampled here all the same, at its size
                size = resolution or (b.cameras[0].width, b.cameras[0].height)
                opts = sample_options(views_per_sample, fov_range, size, sample)
                buildings[i] = dataclasses.replace(b, cameras=None, sample=opts, count=views_per_sample,
                                                   seed=building_seed(seed, i))
        self.buildings = buildings
        self.views_per_sample = int(views_per_sample)
        self.seed = int(seed)

    def order(self, round_: int) -> list[int]:
        """The buildings of round ``round_``, in the order that round takes them."""
        return [int(b) for b in np.random.default_rng(building_seed(self.seed, round_, 1 << 30))
                .permutation(len(self.buildings))]

    def unit(self, u: int) -> tuple[int, int]:
        """(building number, round) of sample ``u``."""
        if u < 0:
            raise LabelgenError("sample", f"must be a non-negative integer, got {u}")
        r, k = divmod(u, len(self.buildings))
        return self.order(r)[k], r

    def cameras(self, u: int) -> list:
        """The cameras of sample ``u`` (sampled in this process)."""
        b, r = self.unit(u)
        building = self.buildings[b]
        seed = building_seed(building.seed, r)
        return [camera_of(building, j, self.options, seed) for j in range(building.count)]

    def __iter__(self):
        worker, workers = _worker()
        u = worker
        n = self.views_per_sample
        failed = 0
        while True:
            b, r = self.unit(u)
            try:
                cameras = self.cameras(u)
                failed = 0
            except SamplingFailed as err:  # this building and seed: no views; the stream goes on
                failed += 1
                if failed >= max(3, 2 * len(self.buildings)):
                    raise LabelgenError(err.where, f"{failed} samples in a row gave no views; the last: "
                                                   f"{err.problem}") from None
                log.warning("%s (round %d): sampling failed, skipped: %s", self.buildings[b].name, r, err)
                cameras = []
            for j, cam in enumerate(cameras):
                yield make_item(self.buildings[b], cam, self.options, u * n + j)
            u += workers

    def __repr__(self) -> str:
        return (f"ViewStream({len(self.buildings)} buildings, {self.views_per_sample} views per sample, "
                f"seed {self.seed})")

    def __reduce__(self):
        state = self.__dict__.copy()
        return _rebuild, (state,)


def _rebuild(state):
    obj = ViewStream.__new__(ViewStream)
    obj.__dict__.update(state)
    return obj


_CLASSES: dict = {}


def _torch_stream():
    """``ViewStream`` as a ``torch.utils.data.IterableDataset`` (made once torch is imported)."""
    if "torch" not in _CLASSES:
        from torch.utils.data import IterableDataset

        _CLASSES["torch"] = type("ViewStream", (ViewStream, IterableDataset), {"__module__": __name__})
    return _CLASSES["torch"]
