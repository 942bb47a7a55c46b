"""The one transformer model family: the packaged MiniLM (base), its PyTorch BERT (bert), the embedder (embed), ONNX Runtime serving (onnx_runtime, onnx_export; graphs in onnx/)."""
