"""Cameras (the Taskonomy/Blender pinhole and equirectangular panoramas), rotations, point_info and vanishing points."""

from labelgen.camera._cameras import Camera, read_cameras, camera_from_point_info, parse_resolution, CAMERA_MODELS, PANORAMA_VIEW, quaternion_wxyz
from labelgen.camera._rotations import euler_from_matrix, matrix_from_euler, focal_length, look_at_rotations
from labelgen.camera._pointinfo import complete_point_info, relative_pose, fixated_pairs, fixated_triplets, nonfixated_pairs, nonfixated_pixel
from labelgen.camera._vanishing import camera_vanishing_points, vanishing_points, estimate_manhattan_rotation
from labelgen.camera._matrices import CONVENTIONS, camera_matrices, intrinsics, pose, normals_to_world, backproject

__all__ = ["Camera", "read_cameras", "camera_from_point_info", "parse_resolution", "CAMERA_MODELS", "PANORAMA_VIEW", "quaternion_wxyz", "euler_from_matrix", "matrix_from_euler", "focal_length", "look_at_rotations", "complete_point_info", "relative_pose", "fixated_pairs", "fixated_triplets", "nonfixated_pairs", "nonfixated_pixel", "camera_vanishing_points", "vanishing_points", "estimate_manhattan_rotation", "CONVENTIONS", "camera_matrices", "intrinsics", "pose", "normals_to_world", "backproject"]
