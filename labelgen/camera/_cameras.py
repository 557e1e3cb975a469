"""Cameras: the Taskonomy (Blender) pinhole convention and the camera files that carry it.

Convention (spec section 2): the rotation matrix ``R`` maps camera axes to world axes; the
camera looks along its local -Z with +Y up and +X right. ``f = W / (2 tan(fov / 2))`` with
``fov`` the full horizontal angle; pixel column ``i`` sits at ``x = i - (W - 1) / 2`` and row
``j`` at ``y = (H - 1) / 2 - j`` on the image plane at distance ``f``.

Camera sources:

* a Taskonomy ``point_info`` JSON (one file, or a folder of them in the current layout
  ``point_info/*.json`` or the legacy ``points/*_domain_fixatedpose.json``); the rotation comes
  from ``camera_rotation_final_quaternion`` where the file has it (Omnidata's and labelgen's),
  else from the Euler angles ``camera_rotation_final`` (Taskonomy's), and the point_info
  labelgen writes gives back the rotation it rendered with bit for bit (see
  :func:`camera_from_point_info`);
* an Omnidata ``camera_poses.json`` (location + wxyz quaternion), with fov and resolution
  given separately;
* :meth:`Camera.look_at` in the Python API.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from labelgen.core._errors import LabelgenError
from labelgen.io._images import read_json
from labelgen.core._limits import check_image_size
from labelgen.core._paths import check_identifier
from labelgen.camera._pointinfo import complete_point_info
from labelgen.camera._rotations import euler_from_matrix, focal_length, look_at_rotations, matrix_from_euler


#: The point_info field with the camera rotation as a unit quaternion ``[w, x, y, z]`` (Omnidata's).
QUATERNION_FIELD = "camera_rotation_final_quaternion"
#: The point_info field with the camera-to-world rotation matrix (3 rows of 3), written by labelgen
#: only where the quaternion does not give back the rotation it rendered with bit for bit.
MATRIX_FIELD = "camera_rotation_final_matrix"


def _canonical_wxyz(q) -> list[float]:
    """``q`` or ``-q`` (the same rotation, the same matrix bit for bit): the one with ``w >= 0``
    (with ``w == 0``: the first non-zero component positive), without negative zeros."""
    q = [float(v) for v in q]
    if q[0] < 0 or (q[0] == 0 and next((v for v in q if v != 0), 0.0) < 0):
        q = [-v for v in q]
    return [v + 0.0 for v in q]


def quaternion_wxyz(matrix) -> list[float]:
    """Unit quaternion ``[w, x, y, z]`` of a rotation matrix (Blender's order), with ``w >= 0``.

    :func:`matrix_from_quaternion` of it gives back ``matrix`` only to about 1e-16 (the last
    bits differ for most matrices).
    """
    x, y, z, w = Rotation.from_matrix(np.asarray(matrix, dtype=np.float64)).as_quat()
    return _canonical_wxyz([w, x, y, z])


def unit_quaternion(q) -> list[float]:
    """The quaternion ``[w, x, y, z]`` a camera is made from: ``q`` divided by its length when that
    is not 1 (to 1e-12), with ``w >= 0``; ``None`` for a zero (or not finite) ``q``.

    Idempotent: a quaternion of length 1 is kept as it is (dividing it by its length again can
    change its last bits, and so the matrix), so the quaternion a camera was made from, written
    to its point_info and read back, makes the same matrix bit for bit.
    """
    q = [float(v) for v in q]
    n = math.hypot(*q)  # no overflow or underflow for huge or tiny components
    if not (n > 0 and math.isfinite(n)):
        return None
    if abs(n - 1.0) > 1e-12:
        q = [v / n for v in q]
    return _canonical_wxyz(q)


def matrix_from_quaternion(q) -> np.ndarray:
    """The rotation matrix of a quaternion ``[w, x, y, z]`` (Blender's order), the one conversion
    of labelgen (camera_poses.json and point_info): ``scipy``'s ``from_quat(...).as_matrix()``."""
    w, x, y, z = q
    return Rotation.from_quat([x, y, z, w]).as_matrix()


#: Camera models: ``perspective`` (pinhole, the Taskonomy convention) and ``equirectangular``
#: (a 2H x H panorama, see :mod:`labelgen.render._panorama`).
CAMERA_MODELS = ("perspective", "equirectangular")
#: The view name Omnidata gives panoramas in file names (``point_{P}_view_equirectangular_...``).
PANORAMA_VIEW = "equirectangular"


def _camera_model(value, where) -> str:
    if value not in CAMERA_MODELS:
        raise LabelgenError(where, f"camera_model must be one of {', '.join(CAMERA_MODELS)}, got {value!r}")
    return value


_NAME = re.compile(r"point_([^_]+)_view_([^_]+)_domain_")


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera in the Taskonomy convention.

    Parameters
    ----------
    location : (3,) array, world metres.
    rotation : (3, 3) array, camera-to-world rotation (columns: camera x, y, z in world).
    fov : full horizontal field of view in radians, in (0, pi).
    width, height : image size in pixels.
    point, view : identifiers used in output file names.
    info : extra point_info fields carried through to the output point_info JSON.
    model : ``"perspective"`` (default) or ``"equirectangular"`` (a panorama; ``fov`` is then
        unused and ``width`` must be ``2 * height``; see :meth:`with_model`).
    quaternion : the unit quaternion ``[w, x, y, z]`` that ``rotation`` was made from
        (:meth:`from_quaternion`), or None. point_info gets it as it is, so that the camera
        read back from the point_info has the same matrix bit for bit.
    """

    location: np.ndarray
    rotation: np.ndarray
    fov: float
    width: int
    height: int
    point: str = "0"
    view: str = "0"
    info: dict[str, Any] = field(default_factory=dict)
    model: str = "perspective"
    quaternion: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        loc = np.asarray(self.location, dtype=np.float64).reshape(3)
        rot = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        object.__setattr__(self, "location", loc)
        object.__setattr__(self, "rotation", rot)
        if not np.all(np.isfinite(loc)) or not np.all(np.isfinite(rot)):
            raise LabelgenError(None, "camera location and rotation must be finite")
        if not (0.0 < float(self.fov) < math.pi):
            raise LabelgenError(None, f"field of view must be in (0, pi) radians, got {self.fov}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise LabelgenError(None, f"resolution must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "fov", float(self.fov))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "point", str(self.point))
        object.__setattr__(self, "view", str(self.view))
        if self.model not in CAMERA_MODELS:
            raise LabelgenError(None, f"camera model must be one of {', '.join(CAMERA_MODELS)}, got {self.model!r}")
        if self.model == "equirectangular" and self.width != 2 * self.height:
            raise LabelgenError(None, f"an equirectangular camera is 2H x H pixels, got {self.width}x{self.height}")
        if self.quaternion is not None:
            object.__setattr__(self, "quaternion", tuple(float(v) for v in self.quaternion))

    def with_model(self, model: str) -> "Camera":
        """This camera with camera model ``model``.

        An equirectangular camera keeps the height ``H`` and becomes ``2H x H`` pixels, with
        view name ``"equirectangular"`` (Omnidata's panorama file names).
        """
        import dataclasses

        if model == self.model:
            return self
        if model == "equirectangular":
            return dataclasses.replace(self, model=model, width=2 * self.height, view=PANORAMA_VIEW)
        return dataclasses.replace(self, model=model)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def look_at(cls, eye, target, up=(0.0, 0.0, 1.0), fov: float = math.radians(60),
                width: int = 512, height: int = 512, **kw) -> "Camera":
        """A camera at ``eye`` looking at ``target`` with ``up`` pointing up in the image."""
        eye = np.asarray(eye, dtype=np.float64).reshape(3)
        forward = np.asarray(target, dtype=np.float64).reshape(3) - eye
        if np.linalg.norm(forward) == 0:
            raise LabelgenError(None, "look_at: eye and target coincide")
        if np.linalg.norm(np.cross(forward / np.linalg.norm(forward), np.asarray(up, dtype=np.float64))) < 1e-12:
            raise LabelgenError(None, "look_at: up is parallel to the viewing direction")
        return cls(eye, look_at_rotations(eye, target, 0.0, up), fov, width, height, **kw)

    @classmethod
    def from_euler(cls, location, angles, fov, width, height, **kw) -> "Camera":
        """From Blender XYZ Euler angles (extrinsic x, then y, then z), in radians."""
        return cls(location, matrix_from_euler(angles), fov, width, height, **kw)

    @classmethod
    def from_quaternion(cls, location, quaternion, fov, width, height, **kw) -> "Camera":
        """From a quaternion ``[w, x, y, z]`` (Blender's order; normalised, see
        :func:`unit_quaternion`), kept as :attr:`quaternion`."""
        q = unit_quaternion(quaternion)
        if q is None:
            raise LabelgenError(None, "the rotation quaternion is zero or not finite")
        return cls(location, matrix_from_quaternion(q), fov, width, height, quaternion=tuple(q), **kw)

    # -- geometry -----------------------------------------------------------------------
    @property
    def focal(self) -> float:
        """Focal length in pixels: ``W / (2 tan(fov / 2))``."""
        return focal_length(self.fov, self.width)

    @property
    def euler_angles(self) -> list[float]:
        """Blender XYZ Euler angles of the rotation (``camera_rotation_final``)."""
        return euler_from_matrix(self.rotation).tolist()

    def pixel_directions(self) -> np.ndarray:
        """(H, W, 3) ray directions in camera axes, scaled so that the z component is -1.

        A hit at parameter ``t`` along such a direction lies at z-buffer depth ``t``.
        """
        f = self.focal
        x = (np.arange(self.width, dtype=np.float64) - (self.width - 1) / 2.0) / f
        y = ((self.height - 1) / 2.0 - np.arange(self.height, dtype=np.float64)) / f
        d = np.empty((self.height, self.width, 3), dtype=np.float64)
        d[:, :, 0] = x[None, :]
        d[:, :, 1] = y[:, None]
        d[:, :, 2] = -1.0
        return d

    def world_to_camera(self, points) -> np.ndarray:
        """Points (..., 3) in world coordinates to Blender camera coordinates."""
        return (np.asarray(points, dtype=np.float64) - self.location) @ self.rotation

    def project(self, points) -> np.ndarray:
        """Pixel coordinates (column, row) of world points, in the pixel-centre convention."""
        pc = self.world_to_camera(points)
        f = self.focal
        col = f * pc[..., 0] / -pc[..., 2] + (self.width - 1) / 2.0
        row = (self.height - 1) / 2.0 - f * pc[..., 1] / -pc[..., 2]
        return np.stack([col, row], axis=-1)

    def point_info(self) -> dict[str, Any]:
        """The point_info JSON for this camera: the carried fields, the fields used, and every
        field computable from the pose (see :func:`labelgen.camera._pointinfo.complete_point_info`)."""
        out = dict(self.info)
        rotation = self._rotation_fields()
        if MATRIX_FIELD not in rotation:  # one carried from the file read is not needed
            out.pop(MATRIX_FIELD, None)
        out.update({
            "point_uuid": self.point,
            "view_id": int(self.view) if self.view.isdigit() else self.view,
            "camera_location": [float(v) for v in self.location],
            "camera_rotation_final": self.euler_angles,
            "field_of_view_rads": self.fov,
            "resolution": self.width if self.width == self.height else [self.width, self.height],
            **rotation,
        })
        if self.model != "perspective":
            out["camera_model"] = self.model
        return complete_point_info(self, out)

    def _rotation_fields(self) -> dict[str, Any]:
        """The point_info fields that give back :attr:`rotation` bit for bit.

        The quaternion is :attr:`quaternion` (the one the camera was made from) when it makes
        this rotation exactly, else :func:`quaternion_wxyz`. The quaternion of a matrix made
        otherwise (from Euler angles, :meth:`look_at`) makes a matrix that differs in the last
        bits for most rotations, which flips pixels that lie on a rounding tie (the normals of
        axis-aligned walls) when the view is rendered again from the point_info: for those the
        matrix is written as well (:func:`camera_from_point_info` reads it first).
        """
        q = None if self.quaternion is None else list(self.quaternion)
        if q is None or not np.array_equal(matrix_from_quaternion(q), self.rotation):
            q = quaternion_wxyz(self.rotation)
        if np.array_equal(matrix_from_quaternion(q), self.rotation):
            return {QUATERNION_FIELD: q}
        return {QUATERNION_FIELD: q, MATRIX_FIELD: [[float(v) + 0.0 for v in row] for row in self.rotation]}


# -- reading camera files ----------------------------------------------------------------

def _number(value, where, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LabelgenError(where, f"field '{name}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise LabelgenError(where, f"field '{name}' is not finite")
    return float(value)


def _vector(value, n, where, name):
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise LabelgenError(where, f"field '{name}' must be a list of {n} numbers, got {value!r}")
    return [_number(v, where, name) for v in value]


def _field(d, name, where):
    if name not in d:
        raise LabelgenError(where, f"missing field '{name}'")
    return d[name]


def parse_resolution(value, where="--resolution", max_pixels=None) -> tuple[int, int]:
    """``512``, ``"512"``, ``"640x480"``, ``[640, 480]`` -> (width, height).

    The size must lie within the limits of :mod:`labelgen.core._limits` (``max_pixels`` replaces
    the default per-view limit).
    """
    try:
        if isinstance(value, str):
            parts = value.lower().split("x")
            if len(parts) not in (1, 2):
                raise ValueError
            w, h = (int(parts[0]), int(parts[-1]))
        elif isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError
            w, h = value
        elif isinstance(value, bool):
            raise ValueError
        else:
            w = h = value
        if float(w) != int(w) or float(h) != int(h):
            raise ValueError
        w, h = int(w), int(h)
    except (ValueError, TypeError, OverflowError):
        raise LabelgenError(where, f"resolution must be W or WxH (positive integers), got {value!r}") from None
    if w <= 0 or h <= 0:
        raise LabelgenError(where, f"resolution must be positive, got {value!r}")
    return check_image_size(w, h, where, max_pixels)


def _check_fov(fov, where):
    if not (0.0 < fov < math.pi):
        raise LabelgenError(where, f"field of view must be in (0, pi) radians, got {fov}")
    return fov


def _quaternion(value, where, name) -> list[float]:
    """A quaternion field: 4 finite numbers, not all zero (one-line errors naming the field)."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise LabelgenError(where, f"field '{name}' must be a list of 4 numbers, got {value!r}")
    q = [_number(v, where, name) for v in value]
    if unit_quaternion(q) is None:
        raise LabelgenError(where, f"field '{name}' is zero" if not any(q) else f"field '{name}' is too large")
    return q


def _rotation(info: dict, where) -> tuple[np.ndarray, list[float] | None]:
    """The camera-to-world rotation of a point_info, and the quaternion it was made from (None
    when it comes from Euler angles or the matrix).

    In order: ``camera_rotation_final_matrix`` (written by labelgen where the quaternion does
    not give back the rotation it rendered with bit for bit; it must describe the same rotation
    as the quaternion, or the Euler angles, to 1e-9), ``camera_rotation_final_quaternion``
    (Omnidata's and labelgen's; normalised, see :func:`unit_quaternion`), then
    ``camera_rotation_final`` (Blender XYZ Euler angles, Taskonomy's). The Euler angles, when
    present, must be 3 numbers even when not used.
    """
    euler = None
    if "camera_rotation_final" in info or QUATERNION_FIELD not in info:
        euler = _vector(_field(info, "camera_rotation_final", where), 3, where, "camera_rotation_final")
    if QUATERNION_FIELD in info:
        q = unit_quaternion(_quaternion(info[QUATERNION_FIELD], where, QUATERNION_FIELD))
        rot, source = matrix_from_quaternion(q), q
    else:
        rot, source = matrix_from_euler(euler), None
    if MATRIX_FIELD in info:
        rows = info[MATRIX_FIELD]
        if not isinstance(rows, list) or len(rows) != 3:
            raise LabelgenError(where, f"field '{MATRIX_FIELD}' must be a list of 3 rows of 3 numbers, got {rows!r}")
        matrix = np.array([_vector(r, 3, where, MATRIX_FIELD) for r in rows])
        given = QUATERNION_FIELD if source is not None else "camera_rotation_final"
        if not np.allclose(matrix, rot, rtol=0, atol=1e-9):
            raise LabelgenError(where, f"field '{MATRIX_FIELD}' is not the rotation of field '{given}'")
        rot, source = matrix, None
    return rot, source


def camera_from_point_info(info: dict, where="point_info", point=None, view=None,
                           fov: float | None = None, resolution=None, max_pixels=None) -> Camera:
    """A :class:`Camera` from a Taskonomy point_info dict (``fov``/``resolution`` override).

    The rotation comes from ``camera_rotation_final_matrix`` when present (labelgen writes it
    only where the quaternion cannot give back the rendered matrix exactly), else from
    ``camera_rotation_final_quaternion`` (normalised), else from the Euler angles
    ``camera_rotation_final``: a point_info labelgen wrote gives back the rotation it rendered
    with, bit for bit.
    """
    if not isinstance(info, dict):
        raise LabelgenError(where, "point_info must be a JSON object")
    loc = _vector(_field(info, "camera_location", where), 3, where, "camera_location")
    rot, quaternion = _rotation(info, where)
    if fov is None:
        fov = _number(_field(info, "field_of_view_rads", where), where, "field_of_view_rads")
    fov = _check_fov(float(fov), where if "field_of_view_rads" in info else "--fov")
    if resolution is None:
        w, h = parse_resolution(_field(info, "resolution", where), where, max_pixels)
    else:
        w, h = parse_resolution(resolution, max_pixels=max_pixels)
    # identifiers become file names: check the file's own fields even when the name overrides them
    for name in ("point_uuid", "view_id", "camera_uuid"):
        if name in info:
            check_identifier(info[name], where, name)
    point = check_identifier(info.get("point_uuid", "0") if point is None else point, where, "point_uuid")
    view = check_identifier(info.get("view_id", "0") if view is None else view, where, "view_id")
    cam = Camera(loc, rot, fov, w, h, point=point, view=view, info=dict(info),
                 quaternion=None if quaternion is None else tuple(quaternion))
    return cam.with_model(_camera_model(info.get("camera_model", "perspective"), where))


def cameras_from_poses(poses, where, fov, resolution, max_pixels=None, camera_model=None) -> list[Camera]:
    """Cameras from an Omnidata ``camera_poses.json`` list (point = index, view 0).

    An entry may carry ``camera_model``; ``camera_model`` overrides it. Panoramas need no
    field of view.
    """
    if not isinstance(poses, list):
        raise LabelgenError(where, "camera_poses.json must hold a list of cameras")
    cams = []
    for i, pose in enumerate(poses):
        w_i = f"{where} (camera {i})"
        if not isinstance(pose, dict):
            raise LabelgenError(w_i, "each camera must be a JSON object")
        loc = _vector(_field(pose, "location", w_i), 3, w_i, "location")
        q = _quaternion(_field(pose, "rotation_quaternion", w_i), w_i, "rotation_quaternion")
        model = camera_model or _camera_model(pose.get("camera_model", "perspective"), w_i)
        cam_fov = fov if fov is not None else pose.get("field_of_view_rads")
        if cam_fov is None and model == "equirectangular":
            cam_fov = math.pi / 2  # unused by panoramas
        if cam_fov is None:
            raise LabelgenError(where, "camera_poses.json has no field of view: pass --fov RADIANS")
        cam_fov = _check_fov(_number(cam_fov, w_i, "field_of_view_rads"), "--fov" if fov is not None else w_i)
        res = resolution if resolution is not None else pose.get("resolution", 512)
        w, h = parse_resolution(res, "--resolution" if resolution is not None else w_i, max_pixels)
        info = {"camera_uuid": check_identifier(pose.get("camera_id", i), w_i, "camera_id")}
        cams.append(Camera.from_quaternion(loc, q, cam_fov, w, h, point=str(i), view="0", info=info).with_model(model))
    return cams


def _point_view_from_name(path: Path):
    m = _NAME.search(path.name)
    return (m.group(1), m.group(2)) if m else (None, None)


def read_cameras(path: str | os.PathLike, fov: float | None = None, resolution=None,
                 max_pixels: int | None = None, camera_model: str | None = None) -> list[Camera]:
    """Read cameras from a point_info file or folder, or an Omnidata ``camera_poses.json``.

    ``fov`` (radians) and ``resolution`` (``W``, ``"WxH"``) override the file's values and
    are required for ``camera_poses.json`` files that do not carry them. ``camera_model``
    (``"perspective"`` or ``"equirectangular"``) overrides each camera's own ``camera_model``
    field (default perspective). Cameras are returned sorted by (point, view).
    """
    if camera_model is not None:
        _camera_model(camera_model, "--camera-model")
    path = Path(path)
    if fov is not None:
        _check_fov(float(fov), "--fov")
    if resolution is not None:
        parse_resolution(resolution, max_pixels=max_pixels)
    if path.is_dir():
        files = None
        for sub, pattern in (("point_info", "*.json"), ("points", "*_fixatedpose.json"), (".", "*point_info.json"),
                             (".", "*_fixatedpose.json")):
            found = sorted((path / sub).glob(pattern))
            if found:
                files = found
                break
        if not files:
            raise LabelgenError(path, "no camera files found (expected point_info/*.json, "
                                      "points/*_fixatedpose.json or camera_poses.json)")
        cams, seen = [], {}
        for f in files:
            p, v = _point_view_from_name(f)
            cam = camera_from_point_info(read_json(f), f, p, v, fov, resolution, max_pixels)
            if (cam.point, cam.view) in seen:  # both would be written to the same output files
                raise LabelgenError(f, f"point {cam.point} view {cam.view} is also given by {seen[cam.point, cam.view]}")
            seen[cam.point, cam.view] = f.name
            cams.append(cam)
    elif path.exists():
        data = read_json(path)
        if isinstance(data, list):
            cams = cameras_from_poses(data, path, fov, resolution, max_pixels, camera_model)
        elif isinstance(data, dict):
            p, v = _point_view_from_name(path)
            cams = [camera_from_point_info(data, path, p, v, fov, resolution, max_pixels)]
        else:
            raise LabelgenError(path, "not a point_info JSON object or a camera_poses.json list")
    else:
        raise LabelgenError(path, "no such file or folder")
    if not cams:
        raise LabelgenError(path, "holds no cameras")
    if camera_model is not None:
        cams = [c.with_model(camera_model) for c in cams]

    def key(c):
        return tuple((0, int(s), "") if s.isdigit() else (1, 0, s) for s in (c.point, c.view))

    return sorted(cams, key=key)
