"""Camera and point sampling for new scans (``labelgen sample``)."""

from labelgen.sample._sampling import SAMPLE_PARAMS, SampleConfig, SampleResult, sample_building, write_sample
from labelgen.sample._rooms import read_room_boxes, estimate_room_boxes

__all__ = ["SAMPLE_PARAMS", "SampleConfig", "SampleResult", "sample_building", "write_sample", "read_room_boxes", "estimate_room_boxes"]
