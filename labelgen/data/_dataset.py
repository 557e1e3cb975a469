"""``ViewDataset``: a map-style dataset whose views are rendered when they are asked for."""
from __future__ import annotations

import bisect

from labelgen.camera._cameras import Camera
from labelgen.data._inputs import Building, buildings_from
from labelgen.data._views import Options, camera_of, make_item

__all__ = ["ViewDataset"]


class ViewDataset:
    """Views of meshes, rendered on demand: ``ds[i]`` is the labels of view ``i``.

    Parameters
    ----------
    meshes : a mesh file, a :class:`~labelgen.MeshSpec` (file, up axis, semantic mesh), or a list
        of them, or a dict of building name to either (default names: the files' stems).
    jobs : instead of ``meshes``, a ``labelgen batch`` jobs file (or its content): its render
        jobs, each with its mesh, cameras or sample options, tasks and parameters.
    cameras : camera files (point_info file or folder, Omnidata ``camera_poses.json``): one for
        one mesh, or a list (or dict by building name) with None where a mesh's cameras are sampled.
        Default: sampled.
    tasks : the labels of every item (default: every label each mesh allows, as ``labelgen
        render`` makes; give them when meshes differ, so that every item has the same keys).
    resolution : ``W`` or ``"WxH"``; default: the camera files' (sampled: 512).
    fov : field of view in radians for camera files that have none.
    num_views : sampled views per mesh (default 100): the first ``num_views`` views
        :func:`labelgen.sample_building` gives for the building's seed.
    fov_range : sampled horizontal field of view range in degrees (default 45-75).
    seed : the sampling seed; each building samples with its own seed made from it (a jobs
        file's sample seed is used as it is).
    sample : other options of :func:`labelgen.sample_building` (``num_cameras``, ``num_points``,
        ``min_views_per_point``, ``camera_height``, ``mode``, ...).
    params : label parameters (``labelgen tasks``); others keep their Taskonomy defaults.
    decode : items in physical units (:func:`labelgen.read_label`: float32, int64 ids, bool) with
        ``item["valid"][task]`` masks; False: the arrays exactly as the PNG files store them.
    channels_first : arrays as (C, H, W) ((1, H, W) for one channel), as PyTorch models take them.
    fill : the value of invalid pixels in decoded float labels (0; NaN allowed).
    convention : the camera axes of ``cam_to_world``: ``"blender"`` (Taskonomy's) or ``"opencv"``
        (see :func:`labelgen.camera_matrices`).
    up_axis : the up axis of mesh files given as paths (see :func:`labelgen.load_mesh`).
    backend : ``"open3d"`` (ray casting) or ``"pyrender"``.
    cache_meshes : meshes (with their ray-casting scenes) each process keeps loaded.
    threads : threads for each process's kernels and ray casts (default: a DataLoader worker's
        share of the cores, else all cores); the bytes do not depend on it.
    max_pixels : largest image per view (see :mod:`labelgen.core._limits`).

    Items
    -----
    A dict: each task's array, ``valid`` (decoded: a dict of each task's (H, W) bool mask),
    ``K`` (3x3; NaN for panoramas) and ``cam_to_world`` (4x4) float32, ``building``, ``point``, ``view`` (str) and
    ``index`` (int). Index ``i`` gives the same building, camera and bytes in any process, with
    any number of DataLoader workers, on every run; encoded, they are the bytes ``labelgen render
    --cameras`` writes for :meth:`point_info` ``(i)``.
    """

    def __init__(self, meshes=None, *, jobs=None, cameras=None, tasks=None, resolution=None, fov=None,
                 num_views=None, fov_range=None, seed: int = 0, sample=None, params=None, decode: bool = True,
                 channels_first: bool = False, fill: float = 0.0, convention: str = "blender", up_axis=None,
                 backend: str = "open3d", cache_meshes: int = 2, threads: int | None = None, max_pixels=None):
        self.options = Options(bool(decode), bool(channels_first), fill, convention, cache_meshes, threads).check()
        self.buildings: list[Building] = buildings_from(meshes, jobs, cameras, tasks, resolution, fov, num_views,
                                                        fov_range, seed, sample, params, up_axis, backend, max_pixels)
        self._starts = []
        total = 0
        for b in self.buildings:
            self._starts.append(total)
            total += b.count
        self._len = total

    def __len__(self) -> int:
        return self._len

    def locate(self, index) -> tuple[Building, int]:
        """The building of view ``index`` and the view's number within it."""
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"ViewDataset indices must be integers, not {type(index).__name__}")
        i = index.__index__()
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"view {index} out of range: the dataset has {self._len} views")
        b = bisect.bisect_right(self._starts, i) - 1
        return self.buildings[b], i - self._starts[b]

    def camera(self, index) -> Camera:
        """The :class:`~labelgen.Camera` of view ``index`` (sampled views: sampled in this process,
        once per building)."""
        building, j = self.locate(index)
        return camera_of(building, j, self.options)

    def point_info(self, index) -> dict:
        """The Taskonomy point_info dict of view ``index``: the file ``labelgen render`` writes
        for it, and reads back as the same camera (``--cameras``)."""
        return self.camera(index).point_info()

    def __getitem__(self, index) -> dict:
        building, j = self.locate(index)
        i = index.__index__() % self._len if self._len else 0
        return make_item(building, camera_of(building, j, self.options), self.options, i)

    def __repr__(self) -> str:
        names = ", ".join(b.name for b in self.buildings[:3]) + (", ..." if len(self.buildings) > 3 else "")
        return f"ViewDataset({len(self)} views of {len(self.buildings)} buildings: {names})"
