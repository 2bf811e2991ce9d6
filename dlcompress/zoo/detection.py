"""Detection and segmentation: torchvision's detectors and segmenters, plus an in-house YOLO v1.

torchvision detectors take a list of images and return a list of dicts; :class:`DetectionOutputs` makes them
take one ``[1, 3, H, W]`` image and return tensors ``(boxes, scores, labels[, masks])`` so they export to
ONNX and run in every runtime. ``torch.export`` (the dynamo ONNX exporter) cannot take them (it fails on
data-dependent shapes after ~30 s), so their specs try the TorchScript exporter first.

Tiny variants keep each architecture (same detector class, heads and post-processing) on a MobileNetV3
backbone at width 0.25 with a 32-channel FPN, 128x128 images and 4 classes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from dlcompress.toolkit.spec import (
    ModelCard,
    ModelSpec,
    Preprocess,
    TensorSpec,
    Tolerance,
)
from dlcompress.zoo.registry import register
from dlcompress.zoo.vision import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from dlcompress.toolkit.host_postprocess import HostSplit

DETECTION_TASK = "object-detection"
SEGMENTATION_TASK = "semantic-segmentation"
COCO_CLASSES = 91  # torchvision's COCO label space (80 used + background + gaps)
VOC_CLASSES = 21
QUANT_OP_TYPES = ("Conv", "MatMul", "Gemm")  # detectors: box decoding and NMS stay in float
# TorchScript first (dynamo fails on data-dependent shapes); int8 only where the weights are
DETECTION_HINTS = {"onnx": {"routes": ("torchscript", "dynamo")}, "onnxruntime": {"op_types": QUANT_OP_TYPES}}
TINY_SIZE = 128
TINY_CLASSES = 4


# ---------------------------------------------------------------------------------------------------------
# wrappers: tensors in, tensors out


class DetectionOutputs(nn.Module):
    """A torchvision detector on a batch of one image: ``image[1,3,H,W] -> boxes, scores, labels[, masks]``.

    Images are in [0, 1]; the detector normalises and resizes them itself. A larger batch is accepted (BatchNorm
    re-estimation feeds several images) but only the first image's detections are returned.
    """

    def __init__(self, detector: nn.Module, masks: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.masks = masks

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        det = self.detector(list(image.unbind(0)))[0]
        out = (det["boxes"], det["scores"], det["labels"])
        return (*out, det["masks"]) if self.masks else out


class HeadOutputs(nn.Module):
    """A one-stage torchvision detector (RetinaNet, FCOS, SSD) up to its raw head outputs:
    ``image[1,3,H,W] -> (cls_logits, bbox_regression[, bbox_ctrness])``, each ``[1, anchors, K]``.

    This is what ``torch.export`` captures (LiteRT, ExecuTorch): everything up to the score filtering and NMS,
    whose shapes depend on the data. :class:`OneStageDecoder` does the rest on the host."""

    def __init__(self, detector: nn.Module, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.detector, self.keys = detector, keys

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images, _ = self.detector.transform(list(image.unbind(0)))
        features = self.detector.backbone(images.tensors)
        features = list(features.values()) if isinstance(features, dict) else [features]
        out = self.detector.head(features)
        return tuple(out[k] for k in self.keys)


class OneStageDecoder:
    """The detector's own post-processing, run on the host after the exported head: anchors (fixed for the
    input size, made once), box decoding, score threshold, top-k per level, class-wise NMS and the boxes scaled
    back to input pixels, all by torchvision's code, so the boxes are torch's for the same head outputs."""

    def __init__(self, detector: nn.Module, keys: tuple[str, ...], size: tuple[int, int]) -> None:
        from torchvision.models.detection.ssd import SSD

        self.detector, self.keys, self.size = detector, keys, size
        with torch.no_grad():
            images, _ = detector.transform([torch.zeros(3, *size)])
            features = detector.backbone(images.tensors)
            features = list(features.values()) if isinstance(features, dict) else [features]
            self.shapes = {k: tuple(v.shape) for k, v in detector.head(features).items()}
            self.anchors = detector.anchor_generator(images, features)
        self.image_sizes = images.image_sizes
        self.levels = None if isinstance(detector, SSD) else [f.size(2) * f.size(3) for f in features]

    def __call__(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        head: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(raw[k][:1])) for k in self.keys}
        anchors: Any = self.anchors
        if self.levels is not None:  # RetinaNet/FCOS decode per pyramid level
            per = [n * (head["cls_logits"].size(1) // sum(self.levels)) for n in self.levels]
            head = {k: list(v.split(per, dim=1)) for k, v in head.items()}
            anchors = [list(a.split(per)) for a in anchors]
        with torch.no_grad():
            det = self.detector.postprocess_detections(head, anchors, self.image_sizes)
            det = self.detector.transform.postprocess(det, self.image_sizes, [self.size])[0]
        return {"boxes": det["boxes"].numpy(), "scores": det["scores"].numpy(), "labels": det["labels"].numpy()}


HEAD_KEYS = {"retinanet": ("cls_logits", "bbox_regression"), "fcos": ("cls_logits", "bbox_regression", "bbox_ctrness"),
             "ssd": ("cls_logits", "bbox_regression")}
HOST_DECODING = ("torchvision's post-processing on the host: anchors, box decoding, score threshold, top-k, "
                 "class-wise NMS (the exported file ends at the raw head outputs)")


def one_stage_split(model: nn.Module, spec: ModelSpec) -> HostSplit:
    """``host_postprocess`` of the one-stage detectors: export :class:`HeadOutputs`, decode on the host."""
    from dlcompress.toolkit.host_postprocess import HostSplit

    detector = model.detector if isinstance(model, DetectionOutputs) else model
    keys = HEAD_KEYS[spec.card.family]
    size = tuple(spec.inputs[0].shape[2:])
    decoder = OneStageDecoder(detector.eval(), keys, size)  # type: ignore[arg-type]
    outputs = tuple(TensorSpec(k, decoder.shapes[k]) for k in keys)
    return HostSplit(HeadOutputs(detector, keys), outputs, decoder, HOST_DECODING)


class SegmentationOutputs(nn.Module):
    """A torchvision segmenter returning its ``out`` logits ``[batch, classes, H, W]`` (no aux head)."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.segmenter(image)["out"]


# ---------------------------------------------------------------------------------------------------------
# real sizes: torchvision builders, random init, no weights downloaded


def build_detector(arch: str, num_classes: int = COCO_CLASSES, masks: bool = False) -> nn.Module:
    """A torchvision detector (``weights=None, weights_backbone=None``) wrapped for tensor outputs."""
    import torchvision.models as tvm

    model = tvm.get_model(arch, weights=None, weights_backbone=None, num_classes=num_classes)
    return DetectionOutputs(model, masks=masks)


def build_segmenter(arch: str, num_classes: int = VOC_CLASSES) -> nn.Module:
    """A torchvision segmenter (random init, no aux head) returning its logits."""
    import torchvision.models as tvm

    model = tvm.get_model(arch, weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    return SegmentationOutputs(model)


# ---------------------------------------------------------------------------------------------------------
# tiny variants: the same detector classes on a small MobileNetV3 + FPN


def _tiny_features(width_mult: float, dilated: bool = False) -> tuple[nn.Sequential, list[int]]:
    """MobileNetV3-Large features at ``width_mult`` (the last stage dilated: output stride 16) and the indices
    of its stage outputs (C0..C5)."""
    from torchvision.models import mobilenet_v3_large

    features = mobilenet_v3_large(width_mult=width_mult, reduced_tail=True, dilated=dilated).features
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
    return features, stages


def tiny_fpn(width_mult: float = 0.25, channels: int = 32, p6p7: bool = False) -> nn.Module:
    """The last two MobileNetV3 stages with an FPN of ``channels``; an extra max-pool level (R-CNN) or P6/P7
    levels (RetinaNet, FCOS) on top, as torchvision's own backbones have."""
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

    features, stages = _tiny_features(width_mult)
    returned = [len(stages) - 2, len(stages) - 1]
    return_layers = {str(stages[k]): str(v) for v, k in enumerate(returned)}
    in_channels = [features[stages[k]].out_channels for k in returned]
    extra = LastLevelP6P7(channels, channels) if p6p7 else LastLevelMaxPool()
    return BackboneWithFPN(features, return_layers, in_channels, channels, extra_blocks=extra)


def _anchors(levels: int, sizes: tuple[int, ...], ratios: tuple[float, ...] = (0.5, 1.0, 2.0)):  # noqa: ANN202
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    return AnchorGenerator(tuple(tuple(s * 2**i for s in sizes) for i in range(levels)), (ratios,) * levels)


def _tiny_rcnn(num_classes: int, size: int, detections: int, masks: bool) -> nn.Module:
    from torchvision.models.detection import FasterRCNN, MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    ch, hidden = 32, 64
    common = dict(
        min_size=size, max_size=size, rpn_anchor_generator=_anchors(3, (16, 32)),
        box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2), box_head=TwoMLPHead(ch * 7 * 7, hidden),
        box_predictor=FastRCNNPredictor(hidden, num_classes), rpn_pre_nms_top_n_test=100,
        rpn_post_nms_top_n_test=50, box_detections_per_img=detections,
    )
    if not masks:
        return FasterRCNN(tiny_fpn(channels=ch), **common)
    return MaskRCNN(tiny_fpn(channels=ch), mask_roi_pool=MultiScaleRoIAlign(["0", "1"], 14, 2),
                    mask_head=MaskRCNNHeads(ch, [ch, ch], 1), mask_predictor=MaskRCNNPredictor(ch, ch, num_classes),
                    **common)


def _spread_scores(classification_head: nn.Module, std: float = 0.1) -> None:
    """Random-init class logits with std 0.1 instead of torchvision's 0.01 (behind GroupNorm'd head convs).

    With torchvision's init every random-init score sits at the 0.01 prior, and which candidates pass top-k
    and NMS is decided by float noise: an exported model legitimately picks other boxes. Spread scores make
    that order stable; the score threshold is lowered below the prior so random-init boxes survive it.
    """
    nn.init.normal_(classification_head.cls_logits.weight, std=std)


def _tiny_retinanet(num_classes: int, size: int, detections: int) -> nn.Module:
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.retinanet import RetinaNetHead

    anchors = _anchors(4, (16, 24))
    # GroupNorm in the head as in torchvision's retinanet_resnet50_fpn_v2 (the v1 head has no norm, so its
    # random-init scores either collapse to the prior or saturate at 1.0, depending on the input)
    head = RetinaNetHead(32, anchors.num_anchors_per_location()[0], num_classes, norm_layer=partial(nn.GroupNorm, 16))
    _spread_scores(head.classification_head)
    return RetinaNet(tiny_fpn(p6p7=True), num_classes, min_size=size, max_size=size, anchor_generator=anchors,
                     head=head, score_thresh=0.005, topk_candidates=100, detections_per_img=detections)


def _tiny_fcos(num_classes: int, size: int, detections: int) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.fcos import FCOSHead

    anchors = _anchors(3, (8,), ratios=(1.0,))  # 3 levels: GroupNorm in the head needs > 1x1 maps at 128 px
    head = FCOSHead(32, 1, num_classes, num_convs=2)
    _spread_scores(head.classification_head)
    return FCOS(tiny_fpn(), num_classes, min_size=size, max_size=size, anchor_generator=anchors,
                head=head, score_thresh=0.005, topk_candidates=100, detections_per_img=detections)


def _tiny_ssdlite(num_classes: int, size: int, detections: int) -> nn.Module:
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import (
        SSDLiteFeatureExtractorMobileNet,
        SSDLiteHead,
    )

    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    features, stages = _tiny_features(0.25)
    backbone = SSDLiteFeatureExtractorMobileNet(features, stages[-2], norm, width_mult=0.25)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(backbone, (size, size))
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), num_classes, norm)
    return SSD(backbone, anchors, (size, size), num_classes, head=head, score_thresh=0.001, nms_thresh=0.55,
               detections_per_img=detections, topk_candidates=100, image_mean=[0.5] * 3, image_std=[0.5] * 3)


TINY_DETECTORS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "fasterrcnn": partial(_tiny_rcnn, masks=False),
    "retinanet": _tiny_retinanet,
    "fcos": _tiny_fcos,
    "ssdlite": _tiny_ssdlite,
}


def build_tiny_detector(kind: str, num_classes: int = TINY_CLASSES, image_size: int = TINY_SIZE,
                        detections: int = 20) -> nn.Module:
    """A tiny detector of the given kind (``fasterrcnn``, ``maskrcnn``, ``retinanet``, ``fcos``, ``ssdlite``)."""
    if kind == "maskrcnn":
        return DetectionOutputs(_tiny_rcnn(num_classes, image_size, detections, masks=True), masks=True)
    return DetectionOutputs(TINY_DETECTORS[kind](num_classes, image_size, detections))


def build_tiny_segmenter(kind: str, num_classes: int = TINY_CLASSES, width_mult: float = 0.25,
                         channels: int = 32) -> nn.Module:
    """DeepLabV3 (ASPP head, atrous rates scaled to the 8x8 map of a 128 px input) or FCN on a dilated
    MobileNetV3 at ``width_mult`` (output stride 16, as torchvision's segmentation backbones)."""
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3
    from torchvision.models.segmentation.fcn import FCN, FCNHead

    features, stages = _tiny_features(width_mult, dilated=True)
    backbone = IntermediateLayerGetter(features, {str(stages[-1]): "out"})
    inplanes = features[stages[-1]].out_channels
    if kind == "fcn":
        return SegmentationOutputs(FCN(backbone, FCNHead(inplanes, num_classes)))
    head = nn.Sequential(ASPP(inplanes, (2, 4, 6), channels), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, num_classes, 1))
    return SegmentationOutputs(DeepLabV3(backbone, head))


# ---------------------------------------------------------------------------------------------------------
# YOLO v1: S x S grid, B boxes (x, y, w, h, confidence) and C class probabilities per cell

# ("conv", kernel, channels, stride) | ("pool",) -- the 24 conv layers of Redmon et al. (Figure 3)
DARKNET24 = (
    ("conv", 7, 64, 2), ("pool",), ("conv", 3, 192, 1), ("pool",),
    ("conv", 1, 128, 1), ("conv", 3, 256, 1), ("conv", 1, 256, 1), ("conv", 3, 512, 1), ("pool",),
    *(("conv", 1, 256, 1), ("conv", 3, 512, 1)) * 4, ("conv", 1, 512, 1), ("conv", 3, 1024, 1), ("pool",),
    *(("conv", 1, 512, 1), ("conv", 3, 1024, 1)) * 2, ("conv", 3, 1024, 1), ("conv", 3, 1024, 2),
    ("conv", 3, 1024, 1), ("conv", 3, 1024, 1),
)
# Fast YOLO's shape: fewer conv layers (9 in the paper; 6 here), each followed by 2x2 pooling
FAST_YOLO = (("conv", 3, 16, 1), ("pool",), ("conv", 3, 32, 1), ("pool",), ("conv", 3, 64, 1), ("pool",),
             ("conv", 3, 128, 1), ("pool",), ("conv", 3, 256, 1), ("pool",), ("conv", 3, 256, 1), ("pool",))
YOLO_LAYOUTS = {"darknet24": DARKNET24, "fast": FAST_YOLO}


class YOLOv1(nn.Module):
    """YOLO v1: a conv body, then two fully connected layers predicting a ``[S, S, B*5 + C]`` grid.

    Per cell: ``B`` boxes of ``(x, y, w, h, confidence)`` (x, y: centre offset within the cell; w, h: relative
    to the image) followed by ``C`` class probabilities; the last layer is linear, as in the paper.
    BatchNorm follows each conv (YOLO v2's addition) so a random-init net has sane activations.
    """

    def __init__(self, layout: str = "darknet24", grid: int = 7, boxes: int = 2, classes: int = 20,
                 image_size: int = 448, hidden: int = 4096, in_chans: int = 3) -> None:
        super().__init__()
        self.grid, self.boxes, self.classes = grid, boxes, classes
        layers: list[nn.Module] = []
        c, size = in_chans, image_size
        for layer in YOLO_LAYOUTS[layout]:
            if layer[0] == "pool":
                layers.append(nn.MaxPool2d(2))
                size //= 2
                continue
            _, k, out, stride = layer
            layers += [nn.Conv2d(c, out, k, stride, k // 2, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.1)]
            c, size = out, (size + 2 * (k // 2) - k) // stride + 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * size * size, hidden), nn.LeakyReLU(0.1),
                                  nn.Dropout(0.5), nn.Linear(hidden, grid * grid * (boxes * 5 + classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).view(-1, self.grid, self.grid, self.boxes * 5 + self.classes)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``(x1, y1, x2, y2)`` boxes: ``[len(a), len(b)]``."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first."""
    order = torch.argsort(scores, descending=True, stable=True)
    ious = box_iou(boxes, boxes)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= ious[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-wise NMS: boxes of different labels never suppress each other (offset per label)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64)
    offsets = labels.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def decode_yolo_v1(pred: torch.Tensor, boxes: int, classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A ``[N, S, S, B*5 + C]`` grid -> per image ``S*S*B`` boxes ``(x1, y1, x2, y2)`` in [0, 1] image units,
    scores (confidence x best class probability) and labels: ``([N, K, 4], [N, K], [N, K])``."""
    n, s = pred.shape[0], pred.shape[1]
    box = pred[..., : boxes * 5].reshape(n, s, s, boxes, 5).clamp(0, 1)
    cls_prob, label = pred[..., boxes * 5 :].clamp(0, 1).max(-1)
    rows, cols = torch.meshgrid(torch.arange(s, dtype=pred.dtype), torch.arange(s, dtype=pred.dtype), indexing="ij")
    cx = (cols[None, :, :, None] + box[..., 0]) / s
    cy = (rows[None, :, :, None] + box[..., 1]) / s
    w, h = box[..., 2], box[..., 3]
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).clamp(0, 1)
    scores = box[..., 4] * cls_prob[..., None]
    labels = label[..., None].expand(-1, -1, -1, boxes)
    return xyxy.reshape(n, -1, 4), scores.reshape(n, -1), labels.reshape(n, -1)


def yolo_v1_detect(pred: torch.Tensor, boxes: int, classes: int, score_threshold: float = 0.1,
                   iou_threshold: float = 0.5) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Decode a YOLO v1 grid and apply class-wise NMS: per image ``(boxes, scores, labels)``, best first."""
    out = []
    for b, s, lab in zip(*decode_yolo_v1(pred, boxes, classes)):
        keep = s >= score_threshold
        b, s, lab = b[keep], s[keep], lab[keep]
        idx = batched_nms(b, s, lab, iou_threshold)
        out.append((b[idx], s[idx], lab[idx]))
    return out


# ---------------------------------------------------------------------------------------------------------
# registration


def detection_io(size: int, num_classes: int, masks: bool = False) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """``image[1,3,S,S] -> boxes[detections,4], scores[detections], labels[detections] (, masks)``; no batch dim:
    one image per call. Boxes are in input pixels, the rows an unordered set."""
    ins = (TensorSpec("image", (1, 3, size, size)),)
    outs = [TensorSpec("boxes", ("detections", 4), unordered=True),
            TensorSpec("scores", ("detections",), unordered=True),
            TensorSpec("labels", ("detections",), "int64", (0, num_classes), unordered=True)]
    if masks:
        outs.append(TensorSpec("masks", ("detections", 1, size, size), unordered=True))
    return ins, tuple(outs)


DETECTORS = {
    # name: (family, tiny kind, masks, real image size, paper)
    "fasterrcnn_resnet50_fpn": ("rcnn", "fasterrcnn", False, 800,
                                "Ren et al., Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks, 2015 (arXiv:1506.01497)"),
    "maskrcnn_resnet50_fpn": ("rcnn", "maskrcnn", True, 800, "He et al., Mask R-CNN, 2017 (arXiv:1703.06870)"),
    "retinanet_resnet50_fpn": ("retinanet", "retinanet", False, 800,
                               "Lin et al., Focal Loss for Dense Object Detection, 2017 (arXiv:1708.02002)"),
    "fcos_resnet50_fpn": ("fcos", "fcos", False, 800,
                          "Tian et al., FCOS: Fully Convolutional One-Stage Object Detection, 2019 (arXiv:1904.01355)"),
    "ssdlite320_mobilenet_v3_large": ("ssd", "ssdlite", False, 320,
                                      "Liu et al., SSD: Single Shot MultiBox Detector, 2016 (arXiv:1512.02325); SSDlite: "
                                      "Sandler et al., 2018 (arXiv:1801.04381)"),
}
DETECTION_EXPORT_NOTES = ("torch.export (dynamo) fails on data-dependent shapes (GuardOnDataDependentSymNode); "
                          "exported with the TorchScript exporter. int8 quantizes Conv/MatMul/Gemm only.")

MOBILE_FORMATS = ("litert", "executorch")
MOBILE_HINTS = {fmt: {"host_postprocess": one_stage_split} for fmt in MOBILE_FORMATS}
"""One-stage detectors on the mobile formats: the head is exported, decoding and NMS run on the host."""
TWO_STAGE_REASON = ("a two-stage detector: its RoI heads take the region proposals that the RPN's NMS selects "
                    "inside the network (a data-dependent number of boxes, which torch.export cannot capture), so "
                    "there is no cut before NMS as for one-stage detectors; exporting it would take two models "
                    "with host NMS between them, which dlcompress does not build")
RCNN_MOBILE_HINTS = {fmt: {"not_capturable": TWO_STAGE_REASON} for fmt in MOBILE_FORMATS}

for _name, (_family, _kind, _masks, _size, _paper) in DETECTORS.items():
    _hints = {**DETECTION_HINTS, **(RCNN_MOBILE_HINTS if _family == "rcnn" else MOBILE_HINTS)}
    _ins, _outs = detection_io(_size, COCO_CLASSES, _masks)
    register(ModelSpec(
        name=_name, task=DETECTION_TASK, builder=partial(build_detector, _name), inputs=_ins, outputs=_outs,
        build_args={"num_classes": COCO_CLASSES, "masks": _masks}, hints=_hints,
        tolerance=Tolerance(atol=1e-2, rtol=1e-3),
        card=ModelCard(
            family=_family, paper=_paper, default_data="photos", num_classes=COCO_CLASSES,
            export_notes=DETECTION_EXPORT_NOTES,
        ),
    ))
    _ins, _outs = detection_io(TINY_SIZE, TINY_CLASSES, _masks)
    register(ModelSpec(
        name=f"{_name}_tiny", task=DETECTION_TASK, builder=partial(build_tiny_detector, _kind), inputs=_ins,
        outputs=_outs, build_args={"num_classes": TINY_CLASSES, "image_size": TINY_SIZE}, hints=_hints,
        tolerance=Tolerance(atol=1e-2, rtol=1e-3),
        card=ModelCard(
            family=_family, paper=_paper, default_data="photos", num_classes=TINY_CLASSES, tiny_of=_name,
            export_notes=DETECTION_EXPORT_NOTES,
        ),
    ))

SEGMENTERS = {
    "deeplabv3_resnet50": ("deeplab", "deeplabv3",
                           "Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation, 2017 (arXiv:1706.05587)"),
    "fcn_resnet50": ("fcn", "fcn", "Long et al., Fully Convolutional Networks for Semantic Segmentation, 2015 (arXiv:1411.4038)"),
}
for _name, (_family, _kind, _paper) in SEGMENTERS.items():
    for _tiny, _size, _classes in ((False, 512, VOC_CLASSES), (True, TINY_SIZE, TINY_CLASSES)):
        register(ModelSpec(
            name=f"{_name}_tiny" if _tiny else _name, task=SEGMENTATION_TASK,
            builder=partial(build_tiny_segmenter, _kind) if _tiny else partial(build_segmenter, _name),
            inputs=(TensorSpec("image", ("batch", 3, _size, _size)),),
            outputs=(TensorSpec("logits", ("batch", _classes, _size, _size)),), build_args={"num_classes": _classes},
            preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD),
            tolerance=Tolerance(atol=1e-2, rtol=1e-3),
            card=ModelCard(
                family=_family, paper=_paper, default_data="photos", num_classes=_classes,
                tiny_of=_name if _tiny else None,
            ),
        ))

YOLO_PAPER = "Redmon et al., You Only Look Once: Unified, Real-Time Object Detection, 2016 (arXiv:1506.02640)"
for _tiny, _args in ((False, {"layout": "darknet24", "grid": 7, "boxes": 2, "classes": 20, "image_size": 448, "hidden": 4096}),
                     (True, {"layout": "fast", "grid": 4, "boxes": 2, "classes": 3, "image_size": 128, "hidden": 64})):
    _s, _depth = _args["image_size"], _args["boxes"] * 5 + _args["classes"]
    register(ModelSpec(
        name="yolo_v1_tiny" if _tiny else "yolo_v1", task=DETECTION_TASK, builder=YOLOv1,
        inputs=(TensorSpec("image", ("batch", 3, _s, _s)),),
        outputs=(TensorSpec("grid", ("batch", _args["grid"], _args["grid"], _depth)),), build_args=_args,
        tolerance=Tolerance(atol=1e-3, rtol=1e-3),
        card=ModelCard(
            family="yolo", paper=YOLO_PAPER, default_data="photos", num_classes=_args["classes"],
            tiny_of="yolo_v1" if _tiny else None,
            export_notes="outputs the raw grid; decode_yolo_v1 / yolo_v1_detect (with NMS) turn it into boxes",
        ),
    ))
