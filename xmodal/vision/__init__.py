"""The visual side: how a photo becomes pixels and pixels become visual features (torch factory, ONNX export, int8)."""
