"""Attribution maps (Grad-CAM, LIME, SHAP) of a model and its compressed variants, and how far they drift:
``methods`` (the methods and the pixel space they work in), ``drift`` (the metrics, pure numpy), ``compare``
(every method on every model for every image), ``gallery`` (Markdown table, PNG overlays, HTML)."""
