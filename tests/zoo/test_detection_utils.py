"""YOLO v1 decoding and NMS, and the detection/segmentation evaluators and row alignment used on detectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcompress.exporters.validate import align_rows
from dlcompress.toolkit.metrics import (
    detection_fidelity,
    segmentation_fidelity,
    task_fidelity,
)
from dlcompress.zoo.detection import (
    batched_nms,
    box_iou,
    decode_yolo_v1,
    nms,
    yolo_v1_detect,
)


def _random_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 80
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


@pytest.mark.parametrize("seed", range(3))
def test_nms_matches_torchvision(seed):
    import torchvision

    boxes, scores = _random_boxes(200, seed)
    for thr in (0.3, 0.5, 0.7):
        assert torch.equal(nms(boxes, scores, thr), torchvision.ops.nms(boxes, scores, thr))
    labels = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(batched_nms(boxes, scores, labels, 0.5), torchvision.ops.batched_nms(boxes, scores, labels, 0.5))
    assert torch.allclose(box_iou(boxes, boxes), torchvision.ops.box_iou(boxes, boxes), atol=1e-6)


def test_decode_yolo_v1_places_a_box_in_its_cell():
    s, b, c = 7, 2, 3
    pred = torch.zeros(1, s, s, b * 5 + c)
    # row 2, col 4, box 1: centre at (0.5, 0.25) of the cell, 0.2 x 0.4 of the image, confidence 0.9, class 2
    pred[0, 2, 4, 5:10] = torch.tensor([0.5, 0.25, 0.2, 0.4, 0.9])
    pred[0, 2, 4, b * 5 + 2] = 0.8
    boxes, scores, labels = decode_yolo_v1(pred, b, c)
    assert boxes.shape == (1, s * s * b, 4) and scores.shape == labels.shape == (1, s * s * b)
    k = int(scores[0].argmax())
    cx, cy = (4 + 0.5) / 7, (2 + 0.25) / 7
    assert torch.allclose(boxes[0, k], torch.tensor([cx - 0.1, cy - 0.2, cx + 0.1, cy + 0.2]), atol=1e-6)
    assert scores[0, k] == pytest.approx(0.72) and labels[0, k] == 2
    dets = yolo_v1_detect(pred, b, c, score_threshold=0.1)
    assert len(dets) == 1 and len(dets[0][0]) == 1 and dets[0][2].item() == 2


def test_yolo_v1_detect_suppresses_overlaps_per_class():
    s, b, c = 4, 2, 2
    pred = torch.zeros(1, s, s, b * 5 + c)
    pred[0, 1, 1, :10] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.48, 0.5, 0.8])  # two near-identical boxes
    pred[0, 1, 1, 10] = 1.0
    pred[0, 3, 3, :5] = torch.tensor([0.5, 0.5, 0.1, 0.1, 0.7])
    pred[0, 3, 3, 11] = 1.0
    boxes, scores, labels = yolo_v1_detect(pred, b, c, score_threshold=0.5, iou_threshold=0.5)[0]
    assert scores.tolist() == pytest.approx([0.9, 0.7]) and labels.tolist() == [0, 1]


def _dets(boxes, scores, labels) -> dict[str, np.ndarray]:  # noqa: ANN001
    return {"boxes": np.asarray(boxes, np.float32), "scores": np.asarray(scores, np.float32),
            "labels": np.asarray(labels, np.int64)}


def test_detection_fidelity_matches_boxes_by_label_and_iou():
    ref = [_dets([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.9, 0.8, 0.7], [1, 2, 3])]
    same = detection_fidelity(ref, ref)
    assert same.extra["box_recall"] == same.extra["box_f1"] == 1.0 and same.max_abs_diff == 0.0
    # one box moved by 1 px, one relabelled, one missing, one extra
    out = [_dets([[1, 0, 11, 10], [20, 20, 40, 40], [80, 80, 90, 90]], [0.85, 0.8, 0.5], [1, 3, 1])]
    f = detection_fidelity(ref, out)
    assert f.extra["box_recall"] == pytest.approx(1 / 3) and f.extra["box_precision"] == pytest.approx(1 / 3)
    assert f.max_abs_diff == 1.0 and f.extra["score_max_abs_diff"] == pytest.approx(0.05, abs=1e-6)
    assert f.extra["mean_iou"] == pytest.approx(90 / 110)
    assert f.top1_agreement is None and f.to_json()["box_recall"] == pytest.approx(0.333333)
    empty = detection_fidelity([_dets(np.zeros((0, 4)), [], [])], [_dets(np.zeros((0, 4)), [], [])])
    assert empty.extra["box_f1"] == 1.0
    grid = [{"grid": np.ones((1, 4, 4, 13), np.float32)}]  # YOLO's dense output: compared densely
    assert task_fidelity("object-detection", grid, grid).cosine == pytest.approx(1.0)


def test_segmentation_fidelity_is_pixel_agreement():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 4, 8, 8)).astype(np.float32)
    out = ref.copy()
    out[0, :, 0, 0] = -ref[0, :, 0, 0]  # flips the arg-max of one pixel (almost surely)
    f = segmentation_fidelity([{"logits": ref}], [{"logits": out}])
    expected = float(np.mean(ref.argmax(1) == out.argmax(1)))  # counted here, over both images' 128 pixels
    assert expected == 1 - 1 / 128
    assert f.top1_agreement == pytest.approx(expected) and f.extra["pixel_agreement"] == pytest.approx(expected)
    # agreement is per pixel over every image: 3 more flipped pixels in the second image, as separate feeds
    out[1, :, 5, 2:5] = -ref[1, :, 5, 2:5]
    f = segmentation_fidelity([{"logits": ref[:1]}, {"logits": ref[1:]}], [{"logits": out[:1]}, {"logits": out[1:]}])
    expected = float(np.mean(ref.argmax(1) == out.argmax(1)))
    assert expected == 1 - 4 / 128
    assert f.extra["pixel_agreement"] == pytest.approx(expected) and f.top1_agreement == pytest.approx(expected)


def test_align_rows_undoes_a_permutation_of_tied_detections():
    ref = _dets([[0, 0, 10, 10], [5, 5, 15, 15], [30, 30, 40, 40]], [0.5, 0.5, 0.5], [1, 1, 2])
    ref["masks"] = np.arange(3 * 4, dtype=np.float32).reshape(3, 1, 2, 2)
    perm = [2, 0, 1]
    out = {k: v[perm] for k, v in ref.items()}
    aligned = align_rows(ref, out, ["boxes", "scores", "labels", "masks"])
    assert all(np.array_equal(aligned[k], ref[k]) for k in ref)
    assert align_rows(ref, out, []) is out  # ordered outputs are left alone
    shorter = {k: v[:2] for k, v in out.items()}
    assert align_rows(ref, shorter, ["boxes", "scores", "labels"]) is shorter  # counts differ: shape check reports it
