"""What ``dlcompress explain`` writes: the drift table (Markdown), one PNG of overlays per image (rows: methods,
columns: the input, the reference, each variant) and ``gallery.html`` showing them beside the table."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from dlcompress.toolkit.explain.compare import Explanation

COLUMNS = (("spearman", "Spearman vs ref"), ("top_k_iou", "top-k IoU"), ("deletion_auc", "deletion AUC"),
           ("deletion_auc_delta", "Δ deletion"), ("insertion_auc", "insertion AUC"),
           ("insertion_auc_delta", "Δ insertion"), ("prediction_agreement", "same top-1"))


def _fmt(value: object) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_rows(found: Explanation) -> list[list[str]]:
    """One row per method and model: the means over the images, or why the cell did not run."""
    rows = []
    for m in found.methods:
        for model in found.models:
            s = found.summary(m.name, model)
            if s["status"] in ("ok", "partial"):
                cells = [_fmt(s.get(k)) for k, _ in COLUMNS]
                status = f"{s['images']} images" + (" (some failed)" if s["status"] == "partial" else "")
            else:
                cells = [""] * len(COLUMNS)
                status = f"{s['status']}: {s.get('reason') or ''}"
            rows.append([m.title, model + (" (reference)" if model == found.reference else ""), *cells, status])
    return rows


def headers(found: Explanation) -> list[str]:
    return ["method", "model", *(t.replace("top-k", f"top-{found.top_k:.0%}") for _, t in COLUMNS), "status"]


def how_to_read(found: Explanation) -> str:
    return (f"{len(found.images)} images; each model explains the class the reference predicts. Spearman: rank "
            f"correlation of the variant's map with the reference's (1 = same ordering of pixels); top-{found.top_k:.0%} "
            "IoU: overlap of the pixels each map ranks highest; deletion/insertion AUC: the model's probability of the "
            "class as its own map's top pixels are blacked out (lower = more faithful) or put back into a black image "
            "(higher = more faithful); Δ: variant minus reference.")


def markdown(found: Explanation) -> str:
    """The drift table and how to read it."""
    head = headers(found)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in summary_rows(found)]
    lines += ["", how_to_read(found)]
    lines += [f"- {n}" for n in found.notes]
    return "\n".join(lines)


def _image(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., 0] if pixels.shape[-1] == 1 else np.clip(pixels, 0, 1)


def write_pngs(found: Explanation, folder: Path) -> list[Path]:
    """One PNG per image in ``folder``: the input and every model's map per method, overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    cols = 1 + len(found.models)
    for i, img in enumerate(found.images):
        fig, axes = plt.subplots(len(found.methods), cols, figsize=(2.2 * cols, 2.4 * len(found.methods)), squeeze=False)
        base = _image(img.pixels)
        gray = base.ndim == 2
        for r, method in enumerate(found.methods):
            ax = axes[r][0]
            ax.imshow(base, cmap="gray" if gray else None, vmin=0, vmax=1)
            ax.set_title(f"#{img.index} class {img.target}" + ("" if img.label is None else f" (label {img.label})"),
                         fontsize=7)
            ax.set_ylabel(method.title, fontsize=9)
            for c, model in enumerate(found.models, start=1):
                cell = found.cell(method.name, model, i)
                ax = axes[r][c]
                ax.imshow(base, cmap="gray" if gray else None, vmin=0, vmax=1)
                if cell.status == "ok" and cell.map is not None:
                    scale = float(np.abs(cell.map).max()) or 1.0
                    ax.imshow(cell.map, cmap="jet" if cell.map.min() >= 0 else "bwr", alpha=0.55,
                              vmin=0 if cell.map.min() >= 0 else -scale, vmax=scale)
                    title = model if model == found.reference else \
                        f"{model}\nρ={_fmt(cell.spearman)} IoU={_fmt(cell.top_k_iou)}"
                else:
                    title = f"{model}\n{cell.status}"
                ax.set_title(title, fontsize=7)
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        path = folder / f"image-{i:02d}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_html(found: Explanation, path: Path, pngs: list[Path], title: str) -> None:
    """``gallery.html``: the drift table and the overlays (PNG paths relative to the page)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(found))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in summary_rows(found))
    per_image = []
    for img, png in zip(found.images, pngs):
        rel = png.relative_to(path.parent).as_posix()
        per_image.append(f'<figure><img src="{html.escape(rel)}" alt="image {img.index}">'
                         f"<figcaption>test image #{img.index}: explained class {img.target}"
                         + ("" if img.label is None else f", label {img.label}") + "</figcaption></figure>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in found.notes)
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}"
        "figure{display:inline-block;margin:1em}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table><tr>{head}</tr>{body}</table>"
        f"<p>{html.escape(how_to_read(found))}</p>"
        f"<ul>{notes}</ul>{''.join(per_image)}</body></html>")
