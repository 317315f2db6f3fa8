"""Field options that the trainers' method flags (--cam, --quantize) add to --field-options."""
import inspect

from fields.models import BACKBONES

QUANTIZE_BITS = 8


def _takes(field_type: str, option: str) -> bool:
    cls = BACKBONES.get(field_type)
    return cls is not None and option in inspect.signature(cls.__init__).parameters


def _require(field_type: str, option: str, flag: str) -> None:
    if not _takes(field_type, option):
        supported = ", ".join(sorted(t for t in BACKBONES if _takes(t, option)))
        raise ValueError(f"{flag} needs an MLP-style field ({supported}), not {field_type!r}")


def method_field_options(signal: str, config) -> dict:
    """``config.field_options`` plus the CAM / quantisation options its flags ask for (a flag wins over the same
    key in --field-options). ``config`` is a TrainNerfConfig, TrainImageConfig or TrainSdfConfig."""
    options = dict(config.field_options)
    resolution = list(config.cam_resolution) if config.cam_resolution else None
    if signal == "radiance":
        if config.cam:
            options["color_cam"] = {"resolution": resolution} if resolution else {}
        if config.cam_trunk_resolution:
            _require(config.field, "cam", "--cam-trunk-resolution")
            options["cam"] = {"resolution": int(config.cam_trunk_resolution)}
        if config.quantize:
            options["color_quantize_bits"] = QUANTIZE_BITS
    elif config.cam:
        _require(config.field, "cam", "--cam")
        options["cam"] = {"resolution": resolution} if resolution else {}
    if config.quantize:
        _require(config.field, "quantize_bits", "--quantize")
        options["quantize_bits"] = QUANTIZE_BITS
    return options
