"""Foundations shared by every job: errors, identifiers and paths, size limits, process settings."""

from labelgen.core._errors import LabelgenError, OutputError
from labelgen.core._paths import check_identifier, check_name, inside
from labelgen.core._limits import MAX_PIXELS, MAX_SIDE, check_image_size, check_png_size, png_size, available_memory
from labelgen.core._runtime import configure

__all__ = ["LabelgenError", "OutputError", "check_identifier", "check_name", "inside", "MAX_PIXELS", "MAX_SIDE", "check_image_size", "check_png_size", "png_size", "available_memory", "configure"]
