"""Capture processing: from a user's photographs or video to a posed scene folder the loaders read.

One module per job: ``video`` (choosing sharp frames), ``images`` (importing photographs), ``sfm`` (COLMAP through
pycolmap), ``world`` (the world frame rule), ``scene_writer`` (transforms.json, point cloud, downscaled images),
``state`` (reusing finished stages), ``report`` (process_report.json), ``pipeline`` (the stages in order).
"""
from fields.capture.errors import CaptureError
from fields.capture.options import CaptureOptions
from fields.capture.pipeline import process_capture

__all__ = ["CaptureError", "CaptureOptions", "process_capture"]
