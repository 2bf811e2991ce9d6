"""MTCNN's ONet (facenet-pytorch 2.6.0's pretrained ``onet.pt``: the 48x48 refinement stage of the MTCNN face
detector, 0.39M params), brought as a Python factory: fp32 vs int8 static / int8 dynamic / fp16 per backend.

Data: scikit-image's ``lfw_subset()`` (100 LFW faces + 100 non-face crops, 25x25 grey), resized to 48x48, grey to
RGB and normalised as MTCNN does, ``(pixel - 127.5) * 0.0078125``, given to dlcompress as an ``.npz`` of inputs
(its seeded split calibrates on 150 of the 200 and measures fidelity on the other 50). ONet's first output is the
bounding-box regression, not the class scores, so the task metric is computed here on each artifact: face /
non-face accuracy of its third output (P(face) > 0.5) on all 200 crops (calibration saw 150 of them, without
labels). The input is the usual row-major image: the transposed layout the Caffe weights were trained on is undone
inside ONet's forward (fed transposed crops, fp32 accuracy falls from 1.000 to 0.600).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import RealRow, rows_from_report

NAME = "mtcnn_onet"
TITLE = "MTCNN ONet face classifier (facenet-pytorch 2.6.0 weights, 0.39M params)"
INSTALL = "pip install --no-deps facenet-pytorch==2.6.0"
FACTORY = Path(__file__).with_name("mtcnn_onet_model.py")
BROUGHT_AS = ("a Python factory: `--model benchmarks/real_models/mtcnn_onet_model.py:build --input-shape 1,3,48,48` "
              "(ONet defined there, the wheel's `onet.pt` read with `torch.load(weights_only=True)`) and "
              "`--data lfw48.npz` (preprocessed inputs)")
METRIC = "face accuracy"
BACKENDS = ("onnxruntime", "openvino", "litert")
METHODS = {"onnxruntime": ("static", "dynamic", "fp16"), "openvino": ("static", "fp16"),
           "litert": ("static", "dynamic", "fp16")}
QUICK = {"onnxruntime": ("static",), "openvino": ("static",)}
SIZE = 48


def lfw_inputs() -> tuple[np.ndarray, np.ndarray]:
    """(inputs [200, 3, 48, 48] float32 as MTCNN normalises them, labels [200]: 1 = face, 0 = not a face)."""
    from skimage.data import lfw_subset
    from skimage.transform import resize

    grey = lfw_subset()  # [200, 25, 25] in [0, 1]: the first 100 are faces
    big = np.stack([resize(im, (SIZE, SIZE), order=1, anti_aliasing=False) for im in grey])
    rgb = np.repeat(big[:, None], 3, axis=1) * 255.0
    inputs = ((rgb - 127.5) * 0.0078125).astype(np.float32)
    labels = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
    return inputs, labels


def face_probability(path: Path, runtime: str, inputs: np.ndarray) -> np.ndarray:
    """P(face) per crop from the exported artifact at ``path``: the output of shape [n, 2] (softmax), column 1."""
    outs: list[np.ndarray]
    if runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled({compiled.inputs[0]: inputs})
        outs = [np.asarray(result[o]) for o in compiled.outputs]
    elif runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path), num_threads=2)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        per_item: list[list[np.ndarray]] = []
        for x in inputs:
            interp.set_tensor(inp["index"], _to_input(x[None], inp))
            interp.invoke()
            per_item.append([_from_output(interp.get_tensor(d["index"]), d) for d in interp.get_output_details()])
        outs = [np.concatenate(col) for col in zip(*per_item)]
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs = session.run(None, {session.get_inputs()[0].name: inputs})
    probs = [o for o in outs if o.ndim == 2 and o.shape[1] == 2]
    if len(probs) != 1:
        raise RuntimeError(f"{path.name}: expected one [n, 2] output, got {[o.shape for o in outs]}")
    return probs[0][:, 1].astype(np.float64)


def _to_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
    return x.astype(detail["dtype"])


def _from_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale
    return np.asarray(y, dtype=np.float32)


def _runs(work: Path, data: Path, quick: bool) -> list[tuple[str, str, Any, Path | str]]:
    """dlcompress.quantize per backend and method: (backend, method, report, folder), or the report None and
    the one-line error in place of the folder when that backend cannot take the model."""
    import dlcompress
    from dlcompress.toolkit.errors import DLCompressError

    runs: list[tuple[str, str, Any, Path | str]] = []
    for backend, methods in (QUICK if quick else METHODS).items():
        for method in methods:
            out = work / f"onet-{backend}-{method}"
            try:
                # samples= as well as calib_samples=: the Python API sets only data.calib_samples, and the
                # calibration takes min(quantize.samples (64), data.calib_samples)
                result = dlcompress.quantize(f"{FACTORY}:build", input_shape=(1, 3, SIZE, SIZE), data=str(data),
                                             backend=backend, method=method, out=str(out), overwrite=True,
                                             calib_samples=150, samples=150, eval_samples=0,
                                             max_seconds=1.5 if quick else 5.0, min_samples=10 if quick else 20,
                                             memory=not quick)
            except DLCompressError as e:
                runs.append((backend, method, None, str(e).splitlines()[0]))
                break
            runs.append((backend, method, result.report, out))
    return runs


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    work.mkdir(parents=True, exist_ok=True)
    inputs, labels = lfw_inputs()
    data = work / "lfw48.npz"
    np.savez(data, input=inputs)  # no labels: the report's accuracy would be the arg-max of the box output
    about = ("scikit-image lfw_subset: 100 faces + 100 non-faces, 48x48 RGB; calibration: 150 of them; "
             "accuracy on all 200")
    rows: list[RealRow] = []
    fp32_probs: dict[str, np.ndarray] = {}
    for backend, method, report, folder in _runs(work, data, quick):
        if report is None:
            rows.append(RealRow(TITLE, backend, f"int8 {method}", None, None, None, METRIC, None, "", about,
                                note=f"does not convert: {folder}"))
            continue
        probs, metrics = {}, {}
        for r in report.rows:
            if r.path and r.status not in ("failed", "skipped"):
                probs[r.path] = face_probability(Path(folder) / r.path, r.runtime, inputs)
                metrics[r.path] = float(np.mean((probs[r.path] > 0.5) == labels))
        live = [r for r in report.rows if r.status not in ("failed", "skipped")]
        for row, r in zip(rows_from_report(report, TITLE, METRIC, about, metrics=metrics, out_dir=Path(folder)), live):
            p = probs.get(r.path or "")
            if row.method == "fp32":
                if backend in fp32_probs:
                    continue  # fp32 once per backend, from its first run
                fp32_probs[backend] = p
            elif p is not None:
                diff = np.abs(p - fp32_probs[backend]).max()
                row.fidelity = ", ".join(f for f in (f"P(face) max diff {diff:.4f}", row.fidelity) if f)
            rows.append(row)
    return rows
