"""One loader per kind of model source (zoo entry, factory, ONNX file, Hugging Face folder, Keras/TensorFlow);
the registry that dispatches a ``--model`` to them is ``recipes/loading.py``'s ``MODEL_SOURCES``."""
