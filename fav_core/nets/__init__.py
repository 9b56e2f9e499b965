"""Transformation networks: arch-string grammar, the network, and model pre/deprocessing."""
from __future__ import annotations

from fav_core.nets.grammar import Token, parse_arch
from fav_core.nets.preprocess import (
    PREPROCESSING_KINDS,
    RESNET_MEAN_RGB,
    RESNET_STD_RGB,
    VGG_MEAN_BGR,
    VGG_MEAN_RGB,
    VGG_SCALE,
    deprocess,
    preprocess,
)
from fav_core.nets.transformer import TransformerNet, build_transformer

#: The paper's video-net architecture (README training commands).
PAPER_VIDEO_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,U2,c3s1-64,U2,c9s1-3"
#: fast-neural-style's default architecture (also train_video.lua's ``-arch`` default).
FNS_DEFAULT_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"

__all__ = [
    "FNS_DEFAULT_ARCH",
    "PAPER_VIDEO_ARCH",
    "PREPROCESSING_KINDS",
    "RESNET_MEAN_RGB",
    "RESNET_STD_RGB",
    "VGG_MEAN_BGR",
    "VGG_MEAN_RGB",
    "VGG_SCALE",
    "Token",
    "TransformerNet",
    "build_transformer",
    "deprocess",
    "parse_arch",
    "preprocess",
]
