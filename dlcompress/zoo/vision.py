"""Image classifiers: torchvision's CNNs and ViT, in-house pre-activation ResNet and PyramidNet, EfficientNet
B1..B7 made by the compound-scaling rule, plus a small in-house CNN for fast real-data tests.

Every entry takes ``num_classes``, ``in_chans`` and ``image_size`` so it can adapt to a dataset
(Fashion-MNIST: 1 channel, 10 classes, 28x28). Every entry but ``small_cnn`` has a ``<name>_tiny`` test
variant: the same architecture with fewer blocks and channels, 32x32 images and 10 classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from dlcompress.toolkit.spec import (
    ModelCard,
    ModelSpec,
    Preprocess,
    Tolerance,
    image_classifier_io,
)
from dlcompress.zoo.registry import register

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def replace_first_conv(model: nn.Module, in_chans: int) -> nn.Module:
    """Make the first 3-channel conv take ``in_chans`` channels (weights averaged over RGB and repeated)."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                if in_chans == 3:
                    return model
                new = nn.Conv2d(in_chans, child.out_channels, child.kernel_size, child.stride, child.padding,
                                child.dilation, child.groups, child.bias is not None, child.padding_mode)
                with torch.no_grad():
                    new.weight.copy_(child.weight.mean(1, keepdim=True).repeat(1, in_chans, 1, 1) * 3 / in_chans)
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, name, new)
                return model
    raise ValueError("model has no 3-channel Conv2d to adapt")


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the last Linear layer with a fresh one of ``num_classes`` outputs (when it differs)."""
    last = None
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                last = (parent, name, child)
    if last is None:
        raise ValueError("model has no Linear head to replace")
    parent, name, head = last
    if head.out_features != num_classes:
        setattr(parent, name, nn.Linear(head.in_features, num_classes, head.bias is not None))
    return model


def build_torchvision(arch: str, num_classes: int = 1000, in_chans: int = 3, image_size: int = 224) -> nn.Module:
    """A torchvision classifier with random init, adapted to channels, classes and (ViT) image size."""
    import torchvision.models as tvm

    kwargs: dict[str, object] = {"num_classes": num_classes}
    if arch.startswith("vit"):
        kwargs["image_size"] = image_size
    model = tvm.get_model(arch, weights=None, **kwargs)
    if arch.startswith("vit"):
        unzero_vit_head(model)
    return replace_first_conv(model, in_chans)


def unzero_vit_head(model: nn.Module) -> nn.Module:
    """torchvision zero-initialises ViT's classification head, so a random-init ViT outputs all-zero logits and
    every export or int8 variant "matches" it exactly; a small random head (std 0.02) makes them comparable."""
    nn.init.trunc_normal_(model.heads.head.weight, std=0.02)
    return model


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks and a linear head (~95k params): trains to ~0.9 on Fashion-MNIST in one epoch."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, image_size: int = 28, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.features = nn.Sequential(
            block(in_chans, width), nn.MaxPool2d(2),
            block(width, 2 * width), nn.MaxPool2d(2),
            block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _weights_enum(arch: str):  # noqa: ANN202
    def get():  # noqa: ANN202
        import torchvision.models as tvm

        return tvm.get_model_weights(arch)

    return get


TORCHVISION_CLASSIFIERS = {
    # name: (family, paper)
    "resnet18": ("resnet", "He et al., Deep Residual Learning for Image Recognition, 2015 (arXiv:1512.03385)"),
    "resnet50": ("resnet", "He et al., Deep Residual Learning for Image Recognition, 2015 (arXiv:1512.03385)"),
    "wide_resnet50_2": ("resnet", "Zagoruyko & Komodakis, Wide Residual Networks, 2016 (arXiv:1605.07146)"),
    "mobilenet_v2": ("mobilenet", "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, 2018 (arXiv:1801.04381)"),
    "mobilenet_v3_large": ("mobilenet", "Howard et al., Searching for MobileNetV3, 2019 (arXiv:1905.02244)"),
    "densenet121": ("densenet", "Huang et al., Densely Connected Convolutional Networks, 2016 (arXiv:1608.06993)"),
    "efficientnet_b0": ("efficientnet", "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, 2019 (arXiv:1905.11946)"),
    "vit_b_16": ("vit", "Dosovitskiy et al., An Image is Worth 16x16 Words, 2020 (arXiv:2010.11929)"),
    "vgg16": ("vgg", "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, 2014 "
                     "(arXiv:1409.1556); the Grad-CAM example network (Selvaraju et al., arXiv:1610.02391)"),
}

for _arch, (_family, _paper) in TORCHVISION_CLASSIFIERS.items():
    _ins, _outs = image_classifier_io(3, 224, 1000)
    register(ModelSpec(
        name=_arch, task="image-classification", builder=partial(build_torchvision, _arch), inputs=_ins,
        outputs=_outs, build_args={"num_classes": 1000, "in_chans": 3, "image_size": 224},
        preprocess=Preprocess(
            mean=IMAGENET_MEAN, std=IMAGENET_STD, min_image_size=32,
            size_multiple=16 if _arch.startswith("vit") else 1,
        ),
        tolerance=Tolerance(atol=1e-3 if _arch in ("vit_b_16", "densenet121", "wide_resnet50_2", "vgg16") else 5e-4),
        card=ModelCard(
            family=_family, paper=_paper, default_data="photos", num_classes=1000, adaptable=True,
            weights_enum=_weights_enum(_arch),
        ),
    ))

_ins, _outs = image_classifier_io(1, 28, 10)
register(ModelSpec(
    name="small_cnn", task="image-classification", builder=SmallCNN, inputs=_ins, outputs=_outs,
    build_args={"num_classes": 10, "in_chans": 1, "image_size": 28},
    preprocess=Preprocess(min_image_size=8),
    tolerance=Tolerance(atol=1e-4),
    card=ModelCard(
        family="cnn", paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition, 1998 (LeNet family)",
        default_data="fashion-mnist", num_classes=10, adaptable=True,
    ),
))


# ---------------------------------------------------------------------------------------------------------
# Pre-activation ResNet (He et al., Identity Mappings in Deep Residual Networks): BN-ReLU-Conv order


class PreActBasicBlock(nn.Module):
    """``BN-ReLU-conv3x3-BN-ReLU-conv3x3`` plus an identity path; a 1x1 projection of the pre-activated input
    where the shape changes (the paper's own implementation)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        identity = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + identity


class PreActBottleneck(nn.Module):
    """``BN-ReLU-conv1x1``, ``BN-ReLU-conv3x3`` (stride), ``BN-ReLU-conv1x1`` (x4 channels), identity path."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        identity = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        out = self.conv3(torch.relu(self.bn3(out)))
        return out + identity


PREACT_BLOCKS = {"basic": PreActBasicBlock, "bottleneck": PreActBottleneck}


class PreActResNet(nn.Module):
    """ImageNet-layout pre-activation ResNet: conv7x7/2 + max-pool stem, four stages of pre-activation blocks
    (``width``, 2x, 4x, 8x channels), then the final BN-ReLU that pre-activation needs before pooling."""

    def __init__(self, block: str = "basic", layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000,
                 in_chans: int = 3, image_size: int = 224, width: int = 64) -> None:
        super().__init__()
        unit = PREACT_BLOCKS[block]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, n in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(unit(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * unit.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.final(self.stages(self.stem(x))))


# ---------------------------------------------------------------------------------------------------------
# PyramidNet (Han et al.): channels grow by alpha / #blocks at every block (additive widening)


class PyramidBlock(nn.Module):
    """``BN-conv3x3-BN-ReLU-conv3x3-BN``; the shortcut average-pools where the block strides and zero-pads
    the channels it lacks (no projection, as in the paper)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.pool = nn.AvgPool2d(2, ceil_mode=True) if stride != 1 else None
        self.pad = cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.pool(x) if self.pool is not None else x
        if self.pad:
            identity = nn.functional.pad(identity, (0, 0, 0, 0, 0, self.pad))
        return self.body(x) + identity


class PyramidNet(nn.Module):
    """CIFAR-layout PyramidNet with basic blocks: depth ``6N+2`` (N blocks in each of 3 groups), channels from
    ``width`` rising linearly to ``width + alpha`` over all ``3N`` blocks (PyramidNet-110, alpha 48: 1.7M params)."""

    def __init__(self, depth: int = 110, alpha: int = 48, num_classes: int = 10, in_chans: int = 3,
                 image_size: int = 32, width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"PyramidNet depth must be 6N+2, got {depth}")
        n = (depth - 2) // 6
        step = alpha / (3 * n)
        self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        blocks, dim, cin = [], float(width), width
        for k in range(3 * n):
            dim += step
            cout = int(round(dim))
            blocks.append(PyramidBlock(cin, cout, 2 if k in (n, 2 * n) else 1))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.final(self.blocks(self.stem(x))))


# ---------------------------------------------------------------------------------------------------------
# EfficientNet compound scaling (Tan & Le, eq. 3): depth alpha^phi, width beta^phi, resolution gamma^phi


@dataclass(frozen=True)
class CompoundScaling:
    """Multipliers of EfficientNet-B0's depth and width, and the input resolution, for one ``phi``."""

    phi: float
    depth: float
    width: float
    resolution: int

    @property
    def flops_factor(self) -> float:
        """FLOPs relative to B0: ``depth * width^2 * (resolution / 224)^2`` (~2^phi by construction)."""
        return self.depth * self.width**2 * (self.resolution / EFFICIENTNET_B0_RESOLUTION) ** 2


EFFICIENTNET_B0_RESOLUTION = 224
EFFICIENTNET_ALPHA, EFFICIENTNET_BETA, EFFICIENTNET_GAMMA = 1.2, 1.1, 1.15


def compound_scaling(phi: float, alpha: float = EFFICIENTNET_ALPHA, beta: float = EFFICIENTNET_BETA,
                     gamma: float = EFFICIENTNET_GAMMA, base_resolution: int = EFFICIENTNET_B0_RESOLUTION) -> CompoundScaling:
    """The compound-scaling rule: one coefficient ``phi`` scales depth, width and resolution together.

    The paper grid-searched ``alpha=1.2, beta=1.1, gamma=1.15`` on B0 under ``alpha * beta^2 * gamma^2 ~ 2``,
    so each unit of ``phi`` about doubles the FLOPs. (The released B1..B7 checkpoints use hand-rounded
    coefficients instead, e.g. B3 = width 1.2, depth 1.4, 300 px; those are torchvision's ``efficientnet_bN``.)
    """
    return CompoundScaling(phi, alpha**phi, beta**phi, int(round(base_resolution * gamma**phi)))


# B0's stages: (expand ratio, kernel, stride, in channels, out channels, layers) -- torchvision's MBConvConfig
EFFICIENTNET_B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


def build_efficientnet(phi: float = 0, num_classes: int = 1000, in_chans: int = 3, image_size: int = 224,
                       base_width: float = 1.0, base_depth: float = 1.0) -> nn.Module:
    """EfficientNet-B``phi`` by the compound-scaling rule, on torchvision's ``EfficientNet``/``MBConvConfig``.

    ``phi=0`` has exactly the layers of torchvision's ``efficientnet_b0``. ``base_width``/``base_depth`` shrink
    the B0 base (tiny variants) before the rule scales it. ``image_size`` is the resolution the rule gives (for
    the spec). Residual branches start scaled down (:func:`scale_residual_branches`).
    """
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    s = compound_scaling(phi)
    conf = partial(MBConvConfig, width_mult=base_width * s.width, depth_mult=base_depth * s.depth)
    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01) if phi >= 5 else None  # as torchvision's B5..B7
    dropout = round(0.2 + 0.3 * min(phi, 7) / 7, 2)  # 0.2 (B0) to 0.5 (B7), as in the paper
    model = EfficientNet([conf(*stage) for stage in EFFICIENTNET_B0_STAGES], dropout, num_classes=num_classes,
                         norm_layer=norm)
    scale_residual_branches(model)
    return replace_first_conv(model, in_chans)


def scale_residual_branches(model: nn.Module) -> int:
    """Initialise the last BatchNorm of each residual MBConv branch to ``gamma = 1/sqrt(#branches)`` (as Fixup
    and SkipInit scale residual branches), so the residual stream keeps unit variance at init; returns #branches.

    With torchvision's ``gamma = 1`` a random-init net of this depth is chaotic: on noise inputs, a 1e-5
    perturbation of the input moved B7-tiny's logits by 0.9% of their scale (after BatchNorm re-estimation),
    so float reordering alone put its exported graph 20% off and nothing could be validated. With the scaled
    init the same perturbation moves them by 4e-5. Trained weights replace the init anyway.
    """
    from torchvision.models.efficientnet import MBConv

    branches = [b for b in model.modules() if isinstance(b, MBConv) and b.use_res_connect]
    for b in branches:
        nn.init.constant_(b.block[-1][1].weight, 1 / math.sqrt(len(branches)))
    return len(branches)


# ---------------------------------------------------------------------------------------------------------
# VGG in torchvision's layout (features / avgpool / classifier) at any width, for the tiny variant

VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """torchvision's VGG-16 layout with channels divided by ``width_div`` and a ``hidden``-wide classifier."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, image_size: int = 224, width_div: int = 1,
                 hidden: int = 4096, pool: int = 7) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for v in VGG16_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v) // width_div, 3, padding=1), nn.ReLU(inplace=True)]
                c = int(v) // width_div
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(
            nn.Linear(c * pool * pool, hidden), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------------------------------------------------
# tiny variants: the same architecture, fewer blocks and channels (each builder: num_classes, image_size)


def _tiny_resnet(bottleneck: bool, width_per_group: int, num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    block = Bottleneck if bottleneck else BasicBlock
    return ResNet(block, [1, 1, 1, 1], num_classes=num_classes, width_per_group=width_per_group)


def _tiny_mobilenet(arch: str, num_classes: int, image_size: int) -> nn.Module:
    import torchvision.models as tvm

    return tvm.get_model(arch, weights=None, num_classes=num_classes, width_mult=0.25)


def _tiny_densenet(num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models.densenet import DenseNet

    return DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=num_classes)


def _tiny_vit(num_classes: int, image_size: int) -> nn.Module:
    from torchvision.models.vision_transformer import VisionTransformer

    return unzero_vit_head(VisionTransformer(image_size=image_size, patch_size=8, num_layers=2, num_heads=2,
                                             hidden_dim=32, mlp_dim=64, num_classes=num_classes))


TINY_BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "resnet18": partial(_tiny_resnet, False, 64),
    "resnet50": partial(_tiny_resnet, True, 16),
    "wide_resnet50_2": partial(_tiny_resnet, True, 32),  # twice the tiny ResNet-50's bottleneck width
    "mobilenet_v2": partial(_tiny_mobilenet, "mobilenet_v2"),
    "mobilenet_v3_large": partial(_tiny_mobilenet, "mobilenet_v3_large"),
    "densenet121": _tiny_densenet,
    "efficientnet_b0": lambda nc, size: build_efficientnet(0, nc, base_width=0.25, base_depth=0.25),
    "vit_b_16": _tiny_vit,
    "vgg16": lambda nc, size: VGG(nc, width_div=16, hidden=64, pool=1),
}


def build_tiny(arch: str, num_classes: int = 10, in_chans: int = 3, image_size: int = 32) -> nn.Module:
    """The tiny variant of a torchvision classifier, adapted to ``in_chans`` input channels."""
    return replace_first_conv(TINY_BUILDERS[arch](num_classes, image_size), in_chans)


# ---------------------------------------------------------------------------------------------------------
# registration of the new classifiers and of every tiny variant

TINY_SIZE, TINY_CLASSES = 32, 10


def _register_classifier(name: str, family: str, builder: Callable[..., nn.Module], size: int, classes: int,
                         paper: str, tiny_of: str | None = None, atol: float = 5e-4, rtol: float = 1e-3,
                         size_multiple: int = 1) -> None:
    ins, outs = image_classifier_io(3, size, classes)
    register(ModelSpec(
        name=name, task="image-classification", builder=builder, inputs=ins, outputs=outs,
        build_args={"num_classes": classes, "in_chans": 3, "image_size": size},
        preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, min_image_size=32, size_multiple=size_multiple),
        tolerance=Tolerance(atol=atol, rtol=rtol),
        card=ModelCard(
            family=family, paper=paper, default_data="photos", num_classes=classes, adaptable=True, tiny_of=tiny_of,
        ),
    ))


for _arch, (_family, _paper) in TORCHVISION_CLASSIFIERS.items():
    _register_classifier(f"{_arch}_tiny", _family, partial(build_tiny, _arch), TINY_SIZE, TINY_CLASSES, _paper,
                         tiny_of=_arch, atol=1e-3 if _arch == "vit_b_16" else 5e-4,
                         size_multiple=8 if _arch.startswith("vit") else 1)

PREACT_PAPER = "He et al., Identity Mappings in Deep Residual Networks, 2016 (arXiv:1603.05027)"
_register_classifier("preact_resnet18", "resnet", PreActResNet, 224, 1000, PREACT_PAPER)
_register_classifier("preact_resnet18_tiny", "resnet", partial(PreActResNet, layers=(1, 1, 1, 1), width=8),
                     TINY_SIZE, TINY_CLASSES, PREACT_PAPER, tiny_of="preact_resnet18")

PYRAMIDNET_PAPER = "Han et al., Deep Pyramidal Residual Networks, 2017 (arXiv:1610.02915)"
_register_classifier("pyramidnet110_a48", "pyramidnet", PyramidNet, 32, 10, PYRAMIDNET_PAPER)
_register_classifier("pyramidnet110_a48_tiny", "pyramidnet", partial(PyramidNet, depth=8, alpha=12, width=8),
                     TINY_SIZE, TINY_CLASSES, PYRAMIDNET_PAPER, tiny_of="pyramidnet110_a48")

EFFICIENTNET_PAPER = TORCHVISION_CLASSIFIERS["efficientnet_b0"][1]
for _phi in range(1, 8):
    _s = compound_scaling(_phi)
    _paper = (f"{EFFICIENTNET_PAPER}; compound scaling phi={_phi}: depth {_s.depth:.3f}, width {_s.width:.3f}, "
              f"{_s.resolution} px")
    _register_classifier(f"efficientnet_b{_phi}", "efficientnet", partial(build_efficientnet, _phi),
                         _s.resolution, 1000, _paper, atol=1e-3)
    _register_classifier(f"efficientnet_b{_phi}_tiny", "efficientnet",
                         partial(build_efficientnet, _phi, base_width=0.25, base_depth=0.25),
                         compound_scaling(_phi, base_resolution=TINY_SIZE).resolution, TINY_CLASSES, _paper,
                         tiny_of=f"efficientnet_b{_phi}", atol=1e-3)
