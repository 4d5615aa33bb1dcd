"""Runs a trained model with ONNX Runtime on CPU. Never imports torch."""
