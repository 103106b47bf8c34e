"""What every part stands on: one-line user errors, the user cache, progress bars, prefetching, onnxruntime sessions."""
