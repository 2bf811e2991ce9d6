"""Image classifiers: torchvision's CNNs and ViT, plus a small in-house CNN for fast real-data tests.

Every entry takes ``num_classes``, ``in_chans`` and ``image_size`` so it can adapt to a dataset
(Fashion-MNIST: 1 channel, 10 classes, 28x28).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from dlcompress.zoo.registry import register
from dlcompress.zoo.spec import ModelSpec, image_classifier_io

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
    return replace_first_conv(model, in_chans)


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
}

for _arch, (_family, _paper) in TORCHVISION_CLASSIFIERS.items():
    _ins, _outs = image_classifier_io(3, 224, 1000)
    register(ModelSpec(
        name=_arch, family=_family, task="image-classification",
        builder=partial(build_torchvision, _arch),
        inputs=_ins, outputs=_outs,
        build_args={"num_classes": 1000, "in_chans": 3, "image_size": 224},
        mean=IMAGENET_MEAN, std=IMAGENET_STD,
        atol=1e-3 if _arch in ("vit_b_16", "densenet121", "wide_resnet50_2") else 5e-4,
        paper=_paper, default_data="photos", num_classes=1000, adaptable=True,
        weights_enum=_weights_enum(_arch),
        min_image_size=32, size_multiple=16 if _arch.startswith("vit") else 1,
    ))

_ins, _outs = image_classifier_io(1, 28, 10)
register(ModelSpec(
    name="small_cnn", family="cnn", task="image-classification", builder=SmallCNN,
    inputs=_ins, outputs=_outs, build_args={"num_classes": 10, "in_chans": 1, "image_size": 28},
    atol=1e-4, paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition, 1998 (LeNet family)",
    default_data="fashion-mnist", num_classes=10, adaptable=True, min_image_size=8,
))
