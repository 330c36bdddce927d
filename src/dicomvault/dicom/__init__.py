"""DICOM data sets: the JSON model with bulk data URIs, and rendering frames as images.

Header parsing and validation live in :mod:`dicomvault.dicom.header`.
"""

from dicomvault.dicom.json import bulk_data_paths, bulk_value, dataset_to_json
from dicomvault.dicom.render import frame_image, render_frame, thumbnail

__all__ = [
    "bulk_data_paths",
    "bulk_value",
    "dataset_to_json",
    "frame_image",
    "render_frame",
    "thumbnail",
]
