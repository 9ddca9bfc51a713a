"""Camera conditioning: Plücker-ray maps of camera poses (CameraCtrl, arXiv 2404.02101, Sec. 3.2).

A pixel's viewing ray, with origin ``o`` (the camera centre) and unit direction ``d``
(``R K⁻¹ [u, v, 1]ᵀ`` normalised), is written in Plücker coordinates as ``(d, o × d)``: six
numbers that name the ray independently of where along it ``o`` sits. Evaluated at every latent
cell, the map tells a video model where each token looks from, for any pose and intrinsics.
Poses are camera-to-world (OpenCV axes: x right, y down, z forward) 4×4 matrices; rays are
taken relative to a reference camera so the model never sees arbitrary world coordinates.
"""

from __future__ import annotations

import torch

PLUCKER_CHANNELS = 6


def check_rigid(poses: torch.Tensor, name: str = "camera", atol: float = 1e-3) -> None:
    """Raise a ValueError unless ``poses`` (..., 4, 4) are rigid camera-to-world transforms.

    Rigid: finite, last row ``[0, 0, 0, 1]``, and an orthonormal rotation with determinant +1
    (no scale, shear or reflection). The message names the first offending matrix and why.
    """
    if poses.ndim < 2 or tuple(poses.shape[-2:]) != (4, 4):
        raise ValueError(
            f"{name} must be (..., 4, 4) camera-to-world matrices, got shape {tuple(poses.shape)}"
        )
    flat = poses.reshape(-1, 4, 4).double()
    if not bool(torch.isfinite(flat).all()):
        raise ValueError(f"{name} contains NaN or Inf values")
    bottom = flat.new_tensor([0.0, 0.0, 0.0, 1.0])
    rotation = flat[:, :3, :3]
    gram_error = (rotation.transpose(1, 2) @ rotation - torch.eye(3, dtype=flat.dtype)).abs().amax(dim=(1, 2))
    problems = (
        ((flat[:, 3] - bottom).abs().amax(dim=1) > atol, "its last row is not [0, 0, 0, 1]"),
        (gram_error > atol, "its 3x3 rotation is not orthonormal (scaled or sheared)"),
        (torch.linalg.det(rotation) < 0, "its rotation is a reflection (determinant -1)"),
    )
    for bad, why in problems:
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"{name}[{index}] is not a rigid camera-to-world transform: {why}; pass rotation + "
                "translation matrices (OpenCV axes), e.g. camera.npy as the simulators write it"
            )


def relative_poses(poses: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``reference⁻¹ · poses``: (..., T, 4, 4) camera-to-world poses in the frame of ``reference``
    (..., 4, 4), so the reference camera becomes the identity (rigid inverse, no general solve)."""
    rotation, translation = reference[..., :3, :3], reference[..., :3, 3:]
    inverse = torch.zeros_like(reference)
    inverse[..., :3, :3] = rotation.transpose(-1, -2)
    inverse[..., :3, 3:] = -rotation.transpose(-1, -2) @ translation
    inverse[..., 3, 3] = 1
    return inverse[..., None, :, :] @ poses


def cell_centres(height: int, width: int, stride: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel coordinates (h, w, 2) as (u, v) of the centres of ``stride``×``stride`` cells of an image
    of ``height``×``width`` pixels whose pixel centres sit at integer coordinates (the simulators'
    intrinsics convention); h = height // stride, w = width // stride."""
    offset = (stride - 1) / 2
    v = torch.arange(height // stride, device=device, dtype=dtype) * stride + offset
    u = torch.arange(width // stride, device=device, dtype=dtype) * stride + offset
    grid_v, grid_u = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([grid_u, grid_v], dim=-1)


def plucker_rays(poses: torch.Tensor, intrinsics: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates ``(d, o × d)`` of the rays through ``pixels``.

    Args:
        poses: (..., 4, 4) camera-to-world; intrinsics: (..., 3, 3) pinhole K in pixels.
        pixels: (h, w, 2) pixel coordinates (u, v), e.g. ``cell_centres``.
    Returns:
        (..., 6, h, w): unit direction d (world axes) in channels 0-2, moment o × d in 3-5.
    """
    ones = torch.ones_like(pixels[..., :1])
    homogeneous = torch.cat([pixels, ones], dim=-1).to(poses.dtype)  # (h, w, 3)
    # K⁻¹ [u, v, 1]ᵀ then R: camera-frame rays to world directions.
    camera_dirs = torch.einsum("...ij,hwj->...hwi", torch.linalg.inv(intrinsics.to(poses.dtype)), homogeneous)
    dirs = torch.einsum("...ij,...hwj->...hwi", poses[..., :3, :3], camera_dirs)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origin = poses[..., None, None, :3, 3].expand_as(dirs)  # (..., h, w, 3)
    moment = torch.linalg.cross(origin, dirs, dim=-1)
    return torch.cat([dirs, moment], dim=-1).movedim(-1, -3)  # (..., 6, h, w)


def plucker_map(
    poses: torch.Tensor,
    intrinsics: torch.Tensor,
    reference: torch.Tensor,
    *,
    image_size: tuple[int, int],
    stride: int,
) -> torch.Tensor:
    """The camera conditioning of a window: Plücker rays of each frame's pose relative to ``reference``,
    at the centres of the tokenizer's ``stride``-pixel latent cells.

    Args:
        poses: (B, T, 4, 4) camera-to-world; intrinsics: (B, T, 3, 3) or (B, 3, 3) for the whole window.
        reference: (B, 4, 4), the camera the others are expressed in (the last context frame's).
        image_size: (H, W) pixels the intrinsics refer to; stride: pixels per latent cell.
    Returns:
        (B, 6, T, H // stride, W // stride) float32.
    """
    if intrinsics.ndim == 3:
        intrinsics = intrinsics[:, None].expand(-1, poses.shape[1], -1, -1)
    pixels = cell_centres(*image_size, stride, device=poses.device, dtype=poses.dtype)
    rays = plucker_rays(relative_poses(poses, reference), intrinsics, pixels)  # (B, T, 6, h, w)
    return rays.transpose(1, 2).float()


def camera_features(
    poses: torch.Tensor,
    intrinsics: torch.Tensor,
    reference: torch.Tensor,
    *,
    image_size: tuple[int, int],
    stride: int,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The DiT's camera input: each frame's Plücker map minus the reference camera's own map (at that
    frame's intrinsics), divided by ``scale`` (6,) per channel.

    The reference camera's rays are the same in every window (identity pose), so the raw maps are a
    constant plus a small motion term (a few hundredths per frame): subtracting the constant and
    scaling to unit variance hands the network the motion alone at a usable size, and a frame that
    does not move gets exactly zero input. Shapes as ``plucker_map``: (B, 6, T, h, w).
    """
    if intrinsics.ndim == 3:
        intrinsics = intrinsics[:, None].expand(-1, poses.shape[1], -1, -1)
    maps = plucker_map(poses, intrinsics, reference, image_size=image_size, stride=stride)
    still = reference[:, None].expand_as(poses)
    delta = maps - plucker_map(still, intrinsics, reference, image_size=image_size, stride=stride)
    if scale is not None:
        delta = delta / scale.to(delta).view(1, -1, 1, 1, 1)
    return delta


POSE_VECTOR_DIM = 10


def relative_pose_vectors(poses: torch.Tensor, intrinsics: torch.Tensor, reference: int) -> torch.Tensor:
    """Each frame's camera relative to frame ``reference`` as one vector (B, T, 10): the first two
    columns of the relative rotation minus the identity's (the continuous 6D rotation of Zhou et al.,
    arXiv 1812.07035), the relative translation, and the log ratio of focal lengths (zoom).

    The global counterpart of the per-cell Plücker map: a small vector the DiT reads like an action
    (added to every token and to the AdaLN conditioning), so "where did the camera go" reaches every
    block at once; the reference frame itself maps to zeros.

    Args:
        poses: (B, T, 4, 4) camera-to-world; intrinsics: (B, T, 3, 3); reference: a frame index.
    """
    rel = relative_poses(poses, poses[:, reference])  # (B, T, 4, 4)
    eye = torch.eye(3, dtype=rel.dtype, device=rel.device)
    rotation = (rel[..., :3, :2] - eye[:, :2]).transpose(-1, -2).flatten(-2)  # (B, T, 6)
    focal = intrinsics[..., 0, 0]  # (B, T)
    zoom = torch.log(focal / focal[:, reference : reference + 1]).unsqueeze(-1)
    return torch.cat([rotation, rel[..., :3, 3], zoom], dim=-1)
