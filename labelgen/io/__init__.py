"""Files: PNG and JSON (atomic writes), meshes, the on-disk cache of per-mesh results."""

from labelgen.io._images import read_image, read_png, write_png, encode_png, read_json, write_json, write_bytes_atomic, check_writable
from labelgen.io._meshes import Mesh, load_mesh, UP_AXES, SUPPORTED, file_hash, default_up_axis, y_up_to_z_up

__all__ = ["read_image", "read_png", "write_png", "encode_png", "read_json", "write_json", "write_bytes_atomic", "check_writable", "Mesh", "load_mesh", "UP_AXES", "SUPPORTED", "file_hash", "default_up_axis", "y_up_to_z_up"]
