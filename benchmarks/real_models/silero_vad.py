"""Silero VAD v6 (silero-vad 6.2.3: STFT conv front end + LSTM cell, 16 kHz, one 512-sample chunk per call with a
carried state), brought as an ONNX file: fp32 vs int8 static / int8 dynamic / fp16 per backend.

The file is the wheel's default ``silero_vad.onnx`` (what ``load_silero_vad(onnx=True)`` loads), prepared as a
user must before dlcompress can feed it from an ``.npz``: ``sr`` (a scalar input, which an ``.npz`` of items cannot
hold) pinned to 16000, ``state`` / ``stateN`` made batch-first (``[batch, 2, 128]``; the wheel's
``[2, batch, 128]`` is not items along axis 0), the input fixed at 576 samples (64 of context + one chunk), the
sample-rate ``If`` folded by onnxscript's optimizer and the one shape-dependent ``If`` left (``squeeze`` when the
encoder's time axis is 1) replaced by its branch, which OpenVINO's CPU plug-in otherwise refuses ("CPU plug-in
doesn't support If operation with dynamic rank"). Outputs equal the wheel file's exactly.
Calibration: an ``.npz`` of real (576-sample window, state) pairs taken
by running fp32 over speech of two espeak-ng voices. Task metric, computed here on every artifact: frame accuracy
of P(speech) > 0.5 per 512-sample chunk, run chunk by chunk carrying the state and the 64-sample context as the
wheel's ``OnnxWrapper`` does, on a stream of espeak-ng speech (other voices than calibration) interleaved with
silence, white noise and brown noise, some utterances under noise; a chunk is labelled speech where the clean
utterance's energy is within 35 dB of its loudest chunk.

fp16 keeps the detector; int8 does not, on either backend. ONNX Runtime's static int8 depends on which 64
(window, state) pairs calibrate it (frame accuracy 0.82 with the quick run's calibration stream, 0.66 with the full
one's, 0.67 with 256 pairs; minmax, percentile and entropy alike), OpenVINO's (NNCF) and ONNX Runtime's dynamic int8
answer "no speech" almost everywhere; dynamic int8 of the encoder's last Conv alone (ConvInteger) is enough for
that.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import RealRow, rows_from_report

NAME = "silero_vad"
TITLE = "Silero VAD v6 voice activity detector (silero-vad 6.2.3, 0.31M params)"
INSTALL = "pip install --no-deps silero-vad==6.2.3"
BROUGHT_AS = ("an ONNX file: `--model silero_vad_16k.onnx --data vad_calib.npz` (the wheel's "
              "`silero_vad.onnx` with `sr` pinned to 16000, a batch-first state and the input fixed at "
              "576 samples, see below)")
METRIC = "VAD frame accuracy"
BACKENDS = ("onnxruntime", "openvino", "litert")
METHODS = {"onnxruntime": ("static", "dynamic", "fp16"), "openvino": ("static", "fp16"), "litert": ("static",)}
QUICK = {"onnxruntime": ("static", "fp16"), "openvino": ("static",)}
RATE, CHUNK, CONTEXT = 16000, 512, 64
SOURCE = "silero_vad.onnx"

CALIB_VOICES = ("en-us+m3", "en+f3")
EVAL_VOICES = ("en-gb+m1", "en-us+f4", "en-gb-scotland+m2", "en-029+f2", "en-us+m7", "en+f5")
SENTENCES = (  # Harvard sentences (IEEE 1969), public domain
    "the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well", "these days a chicken leg is a rare dish",
    "rice is often served in round bowls", "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck", "the hogs were fed chopped corn and garbage",
    "four hours of steady work faced us", "a large size in stockings is hard to sell",
    "the boy was there when the sun rose", "a rod is used to catch pink salmon",
    "the source of the huge river is the clear spring", "kick the ball straight and follow through",
    "help the woman get back to her feet", "a pot of tea helps to pass the evening",
    "smoky fires lack flame and heat", "the soft cushion broke the man's fall",
    "the salt breeze came across from the sea", "the girl at the booth sold fifty bonds",
)


# ---------------------------------------------------------------------------------------------------------
# the model file


def wheel_file(name: str) -> Path:
    """A file of the installed silero-vad wheel's data/ folder, found without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"silero-vad's ONNX files ship in its wheel: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "data" / name


def prepare_onnx(out: Path, source: Path | None = None) -> Path:
    """The wheel's ONNX VAD as dlcompress can feed it: ``sr`` a constant 16000 (an initializer, no longer an
    input), ``state`` and ``stateN`` batch-first ``[batch, 2, 128]`` (a Transpose on each side), ``input``
    ``[batch, 576]``, then onnxscript's optimizer folds the now-constant sample-rate ``If``."""
    import onnx
    import onnxscript.optimizer
    from onnx import helper, numpy_helper

    model = onnx.load(str(source or wheel_file(SOURCE)))
    graph = model.graph

    def set_dims(value: Any, dims: tuple[int | str, ...]) -> None:
        shape = value.type.tensor_type.shape
        shape.ClearField("dim")
        for d in dims:
            dim = shape.dim.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d

    def rename_uses(g: Any, old: str, new: str) -> None:  # subgraphs read outer names implicitly
        for node in g.node:
            node.input[:] = [new if i == old else i for i in node.input]
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    rename_uses(a.g, old, new)

    by_name = {i.name: i for i in graph.input}
    graph.input.remove(by_name["sr"])
    graph.initializer.append(numpy_helper.from_array(np.array(RATE, np.int64), "sr"))
    set_dims(by_name["input"], ("batch", CONTEXT + CHUNK))
    rename_uses(graph, "state", "state_2bh")
    set_dims(by_name["state"], ("batch", 2, 128))
    graph.node.insert(0, helper.make_node("Transpose", ["state"], ["state_2bh"], perm=[1, 0, 2], name="state_bf"))
    for node in graph.node:
        node.output[:] = ["stateN_2bh" if o == "stateN" else o for o in node.output]
    graph.node.append(helper.make_node("Transpose", ["stateN_2bh"], ["stateN"], perm=[1, 0, 2], name="stateN_bf"))
    set_dims(next(o for o in graph.output if o.name == "stateN"), ("batch", 2, 128))
    model = onnxscript.optimizer.optimize(_inline_shape_ifs(onnxscript.optimizer.optimize(model)))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def _inline_shape_ifs(model: Any) -> Any:
    """Each ``If`` left after folding tests a shape (``x.shape[-1] == 1`` after the encoder): with the input fixed
    at 576 samples its branch is always the same, so it is read from one run and put in place of the ``If``
    (OpenVINO's CPU plug-in refuses an ``If`` whose branches differ in rank)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    ifs = [n for n in model.graph.node if n.op_type == "If"]
    if not ifs:
        return model
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n.input[0], onnx.TensorProto.BOOL, None) for n in ifs)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"input": np.zeros((1, CONTEXT + CHUNK), np.float32), "state": np.zeros((1, 2, 128), np.float32)}
    taken = dict(zip((n.input[0] for n in ifs), session.run([n.input[0] for n in ifs], feeds)))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "If":
            nodes.append(node)
            continue
        branch = next(a.g for a in node.attribute if a.name == ("then_branch" if taken[node.input[0]] else "else_branch"))
        model.graph.initializer.extend(branch.initializer)
        nodes += list(branch.node)
        nodes += [helper.make_node("Identity", [b.name], [o]) for b, o in zip(branch.output, node.output)]
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    return model


# ---------------------------------------------------------------------------------------------------------
# real speech, labelled per chunk


def say(text: str, voice: str, speed: int = 160) -> np.ndarray:
    """espeak-ng's speech for ``text`` at 16 kHz, float32 in [-1, 1]."""
    from scipy.signal import resample_poly

    try:
        raw = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                             capture_output=True, check=True, timeout=60).stdout
    except FileNotFoundError:
        raise FileNotFoundError("the speech is synthesized with espeak-ng: apt-get install -y espeak-ng") from None
    pcm = np.frombuffer(raw[44:], dtype=np.int16).astype(np.float32) / 32768.0  # 22050 Hz mono WAV
    return resample_poly(pcm, 160, 441).astype(np.float32)


def stream(voices: tuple[str, ...], sentences: tuple[str, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(audio, labels per 512-sample chunk): each sentence in the next voice at a random level, after a gap of
    0.6-1.6 s of near silence, white noise or brown noise; every fourth utterance sits on white noise at ~15 dB SNR."""
    rng = np.random.default_rng(seed)
    audio, labels = [], []
    for i, text in enumerate(sentences):
        speech = say(text, voices[i % len(voices)], speed=int(rng.integers(140, 190)))
        speech = np.pad(speech, (0, -len(speech) % CHUNK)) * rng.uniform(0.25, 0.9)
        energy = np.sqrt((speech.reshape(-1, CHUNK) ** 2).mean(1))
        speaking = energy > energy.max() * 10 ** (-35 / 20)
        if i % 4 == 3:
            speech = speech + rng.normal(0, np.sqrt((speech ** 2).mean()) * 10 ** (-15 / 20), len(speech))
        n = int(rng.integers(30, 50)) * CHUNK
        if i % 3 == 0:
            gap = rng.normal(0, 10 ** (-60 / 20), n)
        elif i % 3 == 1:
            gap = rng.normal(0, 10 ** (-30 / 20), n)
        else:
            walk = np.cumsum(rng.normal(0, 1, n))
            walk -= np.convolve(walk, np.ones(400) / 400, "same")
            gap = walk / walk.std() * 0.05
        audio += [gap.astype(np.float32), speech.astype(np.float32)]
        labels += [np.zeros(n // CHUNK, bool), speaking]
    return np.concatenate(audio), np.concatenate(labels)


# ---------------------------------------------------------------------------------------------------------
# running an artifact chunk by chunk


def stepper(path: Path, runtime: str) -> Any:
    """``step(window [1, 576], state [1, 2, 128]) -> (P(speech), new state)`` for the artifact at ``path``."""
    if runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        names = {o.get_any_name(): o for o in compiled.outputs}

        def step(x: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
            result = request.infer({"input": x, "state": state})
            return float(result[names["output"]][0, 0]), np.array(result[names["stateN"]])
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def step(x: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
            out, new_state = session.run(["output", "stateN"], {"input": x, "state": state})
            return float(out[0, 0]), new_state

    return step


def run_stream(path: Path, runtime: str, audio: np.ndarray, record: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """P(speech) per chunk over ``audio``, carrying the state and 64 samples of context from chunk to chunk (as
    silero's OnnxWrapper does); with ``record`` also the (window, state) pair fed at each chunk."""
    step = stepper(path, runtime)
    state = np.zeros((1, 2, 128), np.float32)
    context = np.zeros((1, CONTEXT), np.float32)
    probs, windows, states = [], [], []
    for k in range(len(audio) // CHUNK):
        x = np.concatenate([context, audio[None, k * CHUNK:(k + 1) * CHUNK]], axis=1).astype(np.float32)
        if record:
            windows.append(x[0])
            states.append(state[0])
        p, state = step(x, state.astype(np.float32))
        probs.append(p)
        context = x[:, -CONTEXT:]
    recorded = {"input": np.stack(windows), "state": np.stack(states)} if record else {}
    return np.asarray(probs), recorded


# ---------------------------------------------------------------------------------------------------------
# measuring


def _runs(work: Path, model: Path, data: Path, quick: bool) -> list[tuple[str, str, Any, Path | str]]:
    """dlcompress.quantize per backend and method: (backend, method, report, folder), or the report None and
    the one-line error in place of the folder when that backend cannot take the model."""
    import dlcompress
    from dlcompress.toolkit.errors import DLCompressError

    runs: list[tuple[str, str, Any, Path | str]] = []
    for backend, methods in (QUICK if quick else METHODS).items():
        for method in methods:
            out = work / f"vad-{backend}-{method}"
            try:
                # the default calibration (64 pairs, minmax): with 256 pairs int8 static fell to 0.67 here
                result = dlcompress.quantize(str(model), data=str(data), backend=backend, method=method,
                                             out=str(out), overwrite=True, eval_samples=0,
                                             max_seconds=1.5 if quick else 5.0, min_samples=10 if quick else 20,
                                             memory=not quick)
            except DLCompressError as e:
                runs.append((backend, method, None, str(e).splitlines()[0]))
                break
            runs.append((backend, method, result.report, out))
    return runs


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    work.mkdir(parents=True, exist_ok=True)
    model = prepare_onnx(work / "silero_vad_16k.onnx")
    n_calib, n_eval = (6, 12) if quick else (12, len(SENTENCES))
    calib_audio, _ = stream(CALIB_VOICES, SENTENCES[-n_calib:], seed=1)
    _, pairs = run_stream(model, "onnxruntime", calib_audio, record=True)
    data = work / "vad_calib.npz"
    np.savez(data, **pairs)
    audio, labels = stream(EVAL_VOICES, SENTENCES[:n_eval], seed=2)
    about = (f"espeak-ng speech, {len(EVAL_VOICES)} voices, {n_eval} utterances between silence / white / brown "
             f"noise, {len(audio) / RATE:.0f} s = {len(labels)} chunks ({labels.mean():.0%} speech); calibration: "
             f"{len(pairs['input'])} (window, state) pairs of 2 other voices")
    rows: list[RealRow] = []
    fp32_probs: dict[str, np.ndarray] = {}
    for backend, method, report, folder in _runs(work, model, data, quick):
        if report is None:
            rows.append(RealRow(TITLE, backend, f"int8 {method}", None, None, None, METRIC, None, "", about,
                                note=f"not measured: {folder}"))
            continue
        probs, metrics = {}, {}
        for r in report.rows:
            if r.path and r.status not in ("failed", "skipped"):
                probs[r.path] = run_stream(Path(folder) / r.path, r.runtime, audio)[0]
                metrics[r.path] = float(np.mean((probs[r.path] > 0.5) == labels))
        live = [r for r in report.rows if r.status not in ("failed", "skipped")]
        for row, r in zip(rows_from_report(report, TITLE, METRIC, about, metrics=metrics, out_dir=Path(folder)), live):
            p = probs.get(r.path or "")
            if row.method == "fp32":
                if backend in fp32_probs:
                    continue  # fp32 once per backend, from its first run
                fp32_probs[backend] = p
            elif p is not None:
                ref = fp32_probs[backend]
                agree = np.mean((p > 0.5) == (ref > 0.5))
                row.fidelity = ", ".join(f for f in (f"decision agreement {agree:.4f}",
                                                     f"P(speech) max diff {np.abs(p - ref).max():.3f}", row.fidelity) if f)
            rows.append(row)
    return rows
