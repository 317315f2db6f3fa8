"""The in-memory form every scene loader returns, whatever the format on disk."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class SceneData:
    """One split of a posed-image scene.

    Cameras follow the project convention (docs/design.md): ``c2w`` maps camera to world with OpenGL camera axes
    (the camera looks down -Z, +Y is up in the image), pixel ``(u, v)`` has ``u`` to the right and ``v`` down from
    the top-left corner of the image, and pixel centres sit at half-integers (the caller adds the 0.5).
    """

    images: torch.Tensor  # uint8 [N, H, W, 4], RGBA with straight (not premultiplied) alpha
    c2w: torch.Tensor  # float32 [N, 4, 4], camera-to-world, OpenGL camera axes
    intrinsics: torch.Tensor  # float32 [N, 4]: fx, fy, cx, cy in pixels of `images`
    width: int
    height: int
    aabb: torch.Tensor  # float32 [6]: xmin, ymin, zmin, xmax, ymax, zmax of the scene box, world coordinates
    near: float  # hint for ray marchers: no content closer than this to a camera
    far: float  # hint: no content farther than this
    image_paths: list[Path]
    distortion: torch.Tensor | None = None  # float32 [N, 4]: k1, k2, p1, p2 (OpenCV model); None when all zero
    fisheye: bool = False  # OpenCV's fisheye model: ``distortion`` then holds its k1, k2, k3, k4 (datasets.rays)
    split: str = "train"
    source_format: str = "blender"  # "blender" or "ngp"
    has_alpha: bool = True  # False when every source image was RGB (alpha is then 255 everywhere)
    source_to_world: torch.Tensor | None = None  # float32 [4, 4]: file coordinates -> world (None: identity)
    downscale: int = 1  # the factor the images were loaded at; intrinsics are in pixels of `images`

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        expected = {
            "images": (self.images, (n, self.height, self.width, 4), torch.uint8),
            "c2w": (self.c2w, (n, 4, 4), torch.float32),
            "intrinsics": (self.intrinsics, (n, 4), torch.float32),
            "aabb": (self.aabb, (6,), torch.float32),
        }
        if self.distortion is not None:
            expected["distortion"] = (self.distortion, (n, 4), torch.float32)
        if self.source_to_world is not None:
            expected["source_to_world"] = (self.source_to_world, (4, 4), torch.float32)
        for name, (tensor, shape, dtype) in expected.items():
            if tuple(tensor.shape) != shape or tensor.dtype != dtype:
                raise ValueError(f"SceneData.{name}: expected {dtype} {list(shape)}, got {tensor.dtype} "
                                 f"{list(tensor.shape)}")
        if len(self.image_paths) != n:
            raise ValueError(f"SceneData: {len(self.image_paths)} image paths for {n} images")

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])

    def rgba(self, index: int) -> torch.Tensor:
        """Image ``index`` as float32 [H, W, 4] in [0, 1]."""
        return self.images[index].float() / 255.0


def composite_background(rgba: torch.Tensor, background: torch.Tensor | float) -> torch.Tensor:
    """Alpha-composite straight-alpha ``rgba`` [..., 4] (float in [0, 1]) over ``background`` ([3], [..., 3] or a
    grey level). The evaluation convention is a white background (``background=1.0``)."""
    if rgba.shape[-1] != 4:
        raise ValueError(f"composite_background: expected [..., 4] RGBA, got shape {list(rgba.shape)}")
    background = torch.as_tensor(background, dtype=rgba.dtype, device=rgba.device)
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + background * (1.0 - alpha)
