"""Importing this package registers every backbone (field type)."""
from fields.models.backbones import coordinate_mlp, hash_grid, rbf, triplane  # noqa: F401
