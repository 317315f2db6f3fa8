"""Choosing a field's hyperparameters before training (FreSh: match the untrained output's spectrum to the
signal's)."""
from fields.init.fresh import FAMILIES, Family, FreshResult, family_of, select
from fields.init.fresh_signals import (sdf_grid_target, select_for_image, select_for_views, select_for_volume,
                                       training_views)
from fields.init.spectrum import resize_to_square, spectrum, spectrum_distance

__all__ = ["FAMILIES", "Family", "FreshResult", "family_of", "resize_to_square", "sdf_grid_target", "select",
           "select_for_image", "select_for_views", "select_for_volume", "spectrum", "spectrum_distance",
           "training_views"]
