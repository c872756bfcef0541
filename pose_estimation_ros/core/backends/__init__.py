"""Inference backends, one module each (imported only when chosen, so a missing runtime
costs nothing): ONNX Runtime, OpenVINO, TensorRT. :mod:`.choice` picks one; the interface
they implement and the tensor checks are in :mod:`pose_estimation_ros.core.inference`."""
