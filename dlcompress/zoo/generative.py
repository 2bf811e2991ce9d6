"""GANs: DCGAN generator and discriminator, a label-conditioned GAN, and Pix2Pix (U-Net + PatchGAN).

Images are in [-1, 1] (tanh outputs); discriminators declare ``mean = std = 0.5`` so images scaled to [0, 1]
map there. Discriminators return logits (train them with ``BCEWithLogitsLoss``). Generators take noise
uniform in [-1, 1], as in the DCGAN paper, so inputs generated from the signature are the real distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.spec import ModelSpec, TensorSpec
from dlcompress.zoo.registry import register

GENERATION_TASK = "image-generation"
TRANSLATION_TASK = "image-to-image"
DISCRIMINATION_TASK = "image-discrimination"
TANH_MEAN = (0.5, 0.5, 0.5)  # [0, 1] images -> [-1, 1]
NOISE_RANGE = (-1.0, 1.0)


def _upsamplings(image_size: int, start: int) -> int:
    n = math.log2(image_size / start)
    if n != int(n) or n < 1:
        raise ValueError(f"image_size must be {start} times a power of two, got {image_size}")
    return int(n)


# ---------------------------------------------------------------------------------------------------------
# DCGAN (Radford et al.)


class DCGANGenerator(nn.Module):
    """``noise[batch, nz] -> image[batch, C, S, S]``: a 4x4 projection, then stride-2 transposed convs halving
    the channels (BN + ReLU), tanh at the end."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3, image_size: int = 64) -> None:
        super().__init__()
        n = _upsamplings(image_size, 4)
        c = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.nz = nz
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise.view(-1, self.nz, 1, 1))


class DCGANDiscriminator(nn.Module):
    """``image[batch, C, S, S] -> logit[batch, 1]``: stride-2 convs doubling the channels (LeakyReLU 0.2, BN
    except on the first), down to 4x4, then a 4x4 conv to one logit."""

    def __init__(self, ndf: int = 64, channels: int = 3, image_size: int = 64) -> None:
        super().__init__()
        n = _upsamplings(image_size, 4)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        c = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.Conv2d(c, 1, 4, 1, 0, bias=False), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


# ---------------------------------------------------------------------------------------------------------
# conditional GAN (Mirza & Osindero): generator and discriminator both see the class label


class ConditionalGenerator(nn.Module):
    """``noise[batch, nz], label[batch] -> image[batch, C, 28, 28]``: the label's embedding is concatenated
    to the noise, then a DCGAN-style 7x7 projection and two stride-2 transposed convs."""

    def __init__(self, nz: int = 100, num_classes: int = 10, embed_dim: int = 50, ngf: int = 64, channels: int = 1) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz + embed_dim, ngf * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, channels, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        z = torch.cat([noise, self.embed(label)], dim=1)
        return self.net(z[:, :, None, None])


class ConditionalDiscriminator(nn.Module):
    """``image[batch, C, 28, 28], label[batch] -> logit[batch, 1]``: the label's embedding becomes one extra
    28x28 input plane, then two stride-2 convs and a linear layer."""

    def __init__(self, num_classes: int = 10, ndf: int = 64, channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        self.size = image_size
        self.embed = nn.Embedding(num_classes, image_size * image_size)
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(ndf * 2 * (image_size // 4) ** 2, 1),
        )

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        plane = self.embed(label).view(-1, 1, self.size, self.size)
        return self.net(torch.cat([image, plane], dim=1))


# ---------------------------------------------------------------------------------------------------------
# Pix2Pix (Isola et al.): U-Net generator, PatchGAN discriminator on (source, target) pairs


class UNetGenerator(nn.Module):
    """Pix2Pix's U-Net: ``num_downs`` stride-2 convs (ngf, 2ngf, 4ngf, then 8ngf), mirrored by transposed
    convs that take the matching encoder output as a skip connection; dropout on the 8ngf decoder layers."""

    def __init__(self, in_chans: int = 3, out_chans: int = 3, ngf: int = 64, num_downs: int = 8) -> None:
        super().__init__()
        chans = [ngf * min(2**i, 8) for i in range(num_downs)]
        self.downs = nn.ModuleList()
        for i, c in enumerate(chans):
            if i == 0:
                self.downs.append(nn.Conv2d(in_chans, c, 4, 2, 1))
                continue
            norm = [nn.BatchNorm2d(c)] if i < num_downs - 1 else []
            self.downs.append(nn.Sequential(nn.LeakyReLU(0.2, True), nn.Conv2d(chans[i - 1], c, 4, 2, 1, bias=False), *norm))
        self.ups = nn.ModuleList()
        for i, c in enumerate(chans):
            if i == 0:
                self.ups.append(nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(2 * c, out_chans, 4, 2, 1), nn.Tanh()))
                continue
            cin = c if i == num_downs - 1 else 2 * c
            drop = [nn.Dropout(0.5)] if chans[i - 1] == c == ngf * 8 and i < num_downs - 1 else []
            self.ups.append(nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(cin, chans[i - 1], 4, 2, 1, bias=False),
                                          nn.BatchNorm2d(chans[i - 1]), *drop))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        skips = []
        x = source
        for down in self.downs:
            x = down(x)
            skips.append(x)
        y = self.ups[-1](skips[-1])
        for i in range(len(self.ups) - 2, -1, -1):
            y = self.ups[i](torch.cat([skips[i], y], dim=1))
        return y


class PatchGANDiscriminator(nn.Module):
    """Pix2Pix's PatchGAN: ``(source, target) -> logits[batch, 1, P, P]``, one real/fake logit per image patch
    (70x70 receptive field with 3 layers), judging the pair concatenated on channels."""

    def __init__(self, in_chans: int = 6, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_chans, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, out, 4, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            c = out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, target], dim=1))


def patchgan_output_size(image_size: int, n_layers: int) -> int:
    """The PatchGAN's logit map side for a square input (256 px, 3 layers: 30)."""
    size = image_size // 2 ** n_layers  # the first conv and n_layers - 1 more halve it
    return size - 2  # two 4x4 stride-1 convs with padding 1


# ---------------------------------------------------------------------------------------------------------
# registration

DCGAN_PAPER = "Radford et al., Unsupervised Representation Learning with Deep Convolutional GANs, 2015 (arXiv:1511.06434)"
CGAN_PAPER = "Mirza & Osindero, Conditional Generative Adversarial Nets, 2014 (arXiv:1411.1784)"
PIX2PIX_PAPER = "Isola et al., Image-to-Image Translation with Conditional Adversarial Networks, 2016 (arXiv:1611.07004)"


def _image(name: str, channels: int, size: int) -> TensorSpec:
    return TensorSpec(name, ("batch", channels, size, size))


def _register(name: str, tiny: bool, *, task: str, builder: Callable[..., nn.Module], inputs: tuple[TensorSpec, ...],
              outputs: tuple[TensorSpec, ...], **fields: Any) -> None:
    """Register one entry; ``fields`` are the rest of the spec by name, grouped by ``ModelSpec.replace``."""
    spec = ModelSpec(name=f"{name}_tiny" if tiny else name, task=task, builder=builder, inputs=inputs, outputs=outputs)
    register(spec.replace(tiny_of=name if tiny else None, **fields))


for _tiny, _nz, _w, _size in ((False, 100, 64, 64), (True, 16, 8, 16)):
    _register("dcgan_generator", _tiny, family="dcgan", task=GENERATION_TASK, builder=DCGANGenerator,
              inputs=(TensorSpec("noise", ("batch", _nz), value_range=NOISE_RANGE),),
              outputs=(_image("image", 3, _size),), build_args={"nz": _nz, "ngf": _w, "image_size": _size},
              atol=1e-4, paper=DCGAN_PAPER, default_data="synthetic")
    _register("dcgan_discriminator", _tiny, family="dcgan", task=DISCRIMINATION_TASK, builder=DCGANDiscriminator,
              inputs=(_image("image", 3, _size),), outputs=(TensorSpec("logit", ("batch", 1)),),
              build_args={"ndf": _w, "image_size": _size}, mean=TANH_MEAN, std=TANH_MEAN, atol=1e-4,
              paper=DCGAN_PAPER, default_data="photos")

for _tiny, _nz, _w in ((False, 100, 64), (True, 16, 8)):
    _label = TensorSpec("label", ("batch",), "int64", (0, 10))
    _register("cgan_generator", _tiny, family="cgan", task=GENERATION_TASK, builder=ConditionalGenerator,
              inputs=(TensorSpec("noise", ("batch", _nz), value_range=NOISE_RANGE), _label),
              outputs=(_image("image", 1, 28),), build_args={"nz": _nz, "ngf": _w, "num_classes": 10},
              atol=1e-4, paper=CGAN_PAPER, default_data="synthetic", num_classes=10)
    _register("cgan_discriminator", _tiny, family="cgan", task=DISCRIMINATION_TASK, builder=ConditionalDiscriminator,
              inputs=(TensorSpec("image", ("batch", 1, 28, 28), value_range=(-1.0, 1.0)), _label),
              outputs=(TensorSpec("logit", ("batch", 1)),), build_args={"ndf": _w, "num_classes": 10},
              atol=1e-4, paper=CGAN_PAPER, default_data="fashion-mnist-labelled", num_classes=10)

for _tiny, _size, _w, _downs, _layers in ((False, 256, 64, 8, 3), (True, 32, 8, 5, 2)):
    _register("pix2pix_generator", _tiny, family="pix2pix", task=TRANSLATION_TASK, builder=UNetGenerator,
              inputs=(_image("source", 3, _size),), outputs=(_image("image", 3, _size),),
              build_args={"ngf": _w, "num_downs": _downs}, mean=TANH_MEAN, std=TANH_MEAN, atol=1e-4,
              paper=PIX2PIX_PAPER, default_data="photos")
    _p = patchgan_output_size(_size, _layers)
    _register("pix2pix_discriminator", _tiny, family="pix2pix", task=DISCRIMINATION_TASK,
              builder=partial(PatchGANDiscriminator, 6), inputs=(_image("source", 3, _size), _image("target", 3, _size)),
              outputs=(TensorSpec("patch_logits", ("batch", 1, _p, _p)),), build_args={"ndf": _w, "n_layers": _layers},
              mean=TANH_MEAN, std=TANH_MEAN, atol=1e-4, paper=PIX2PIX_PAPER, default_data="photos")
