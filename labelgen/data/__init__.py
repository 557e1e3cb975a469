"""Labels at training time: label files in physical units, and datasets that render views on demand.

:func:`read_label` / :func:`encode_label` decode every label into physical units and back, bit
for bit; :func:`camera_matrices` gives a view's pinhole ``K`` and camera-to-world pose.
:class:`ViewDataset` (map-style) and :class:`ViewStream` (endless, freshly sampled) render views
of meshes when they are asked for, on the engine every job uses; they work with
``torch.utils.data.DataLoader`` without labelgen importing torch (``docs/training.md``).
"""

from labelgen.camera._matrices import CONVENTIONS, backproject, camera_matrices, normals_to_world
from labelgen.data._units import CODECS, DecodedLabel, decode_array, encode_label, read_label
from labelgen.data._dataset import ViewDataset
from labelgen.data._stream import ViewStream

__all__ = ["CONVENTIONS", "backproject", "camera_matrices", "normals_to_world", "CODECS", "DecodedLabel",
           "decode_array", "encode_label", "read_label", "ViewDataset", "ViewStream"]
