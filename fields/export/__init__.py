"""Exporting trained fields: meshes (marching cubes on density or SDF), point clouds from rendered depth, camera
paths and videos."""
from fields.export.mesh import MeshExport, export_field_mesh
from fields.export.writers import ExportError

__all__ = ["ExportError", "MeshExport", "export_field_mesh"]
