"""The whole pipeline in one process, without ROS: encoder -> inference -> decoder.

Configured with the same per-node parameter values as the ROS nodes (see
:mod:`pose_estimation_ros.core.params`), so that the offline bag tool, the evaluation
command and the benchmark compute exactly what the node graph computes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pose_estimation_ros.core.encoder import ImageEncoder
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.backends.choice import create_backend
from pose_estimation_ros.core.inference import (LAYOUT_CONVERSIONS, InferenceBackend,
                                                check_mapping, name_mapping, prepare_inputs,
                                                rename_outputs)
from pose_estimation_ros.core.openpose import OpenPoseDecoder, Person, split_network_outputs
from pose_estimation_ros.core.params import (DECODER_NODE, ENCODER_NODE, INFERENCE_NODE,
                                             decoder_params, encoder_config,
                                             load_parameters_file, tracker_params)
from pose_estimation_ros.core.tracking import Tracked, Tracker
from pose_estimation_ros.core.validation import check_finite, check_tensor_names


def extract_maps(arrays: Mapping[str, np.ndarray], values: Mapping[str, Any]):
    """Network outputs {name: array} -> (heatmaps, pafs, maxpool) HWC arrays, as the
    decoder node's tensor parameters say. ValueError names a missing tensor."""
    keys = ('heatmap_tensor_name', 'paf_tensor_name', 'maxpool_tensor_name')
    check_tensor_names(arrays, dict.fromkeys(values[k] for k in keys), 'network_output',
                       'the decoder reads ' + ', '.join(f'{k} "{values[k]}"' for k in keys
                                                        if values[k]) +
                       ': set those parameters, or the inference node\'s '
                       'output_tensor_names, to the same names')

    def tensor(key):
        name = values[key]
        if not name:
            return None
        if arrays[name].dtype.kind != 'f':
            raise ValueError(f'tensor "{name}" ({key}) is {arrays[name].dtype}: the decoder '
                             f'takes float16/32/64 network outputs; check the inference '
                             f'node\'s output_binding_names')
        return arrays[name]

    start, stop = (int(v) for v in values['heatmap_channels'])
    return split_network_outputs(tensor('heatmap_tensor_name'), tensor('paf_tensor_name'),
                                 tensor('maxpool_tensor_name'),
                                 layout=values['tensor_layout'],
                                 heatmap_channels=(start, stop))


def check_channels(values: Mapping[str, Any], params, inference: InferenceStage) -> None:
    """At start-up, where the model's output channels are known (static): ValueError
    when ``heatmap_channels`` or ``edges_paf`` address channels past them (the nodes,
    each in its own process, can only tell when the first tensors arrive)."""
    layout = str(values['tensor_layout']).upper()
    infos = {info.name: info for info in inference.backend.outputs}

    def channels(key):
        binding = inference.output_mapping.get(values[key])
        shape = infos[binding].shape if binding in infos else ()
        if len(shape) not in (3, 4):
            return None
        count = shape[-1] if layout == 'NHWC' else shape[-3]
        return count if isinstance(count, int) else None

    heat = channels('heatmap_tensor_name')
    stop = int(values['heatmap_channels'][1])
    if heat is not None and stop > heat:
        raise ValueError(f'heatmap_channels {list(values["heatmap_channels"])} address '
                         f'channels past the {heat} of model output '
                         f'"{values["heatmap_tensor_name"]}": fix heatmap_channels')
    paf_key = 'paf_tensor_name' if values['paf_tensor_name'] else 'heatmap_tensor_name'
    pafs = channels(paf_key)
    highest = max(c for pair in params.edges_paf for c in pair)
    if pafs is not None and highest >= pafs:
        raise ValueError(f'edges_paf addresses channel {highest}, past the {pafs} channels '
                         f'of model output "{values[paf_key]}": fix edges_paf (or '
                         f'paf_tensor_name)')


def stats_ms(values_ms) -> dict[str, float]:
    """Median, 90th percentile, minimum and count of times in milliseconds."""
    values = np.asarray(values_ms, dtype=np.float64)
    return {'median_ms': round(float(np.median(values)), 3),
            'p90_ms': round(float(np.percentile(values, 90)), 3),
            'min_ms': round(float(values.min()), 3), 'n': int(values.size)}


@dataclass
class Timings:
    """Milliseconds per stage of the frames processed so far."""

    encode: list = field(default_factory=list)
    infer: list = field(default_factory=list)
    decode: list = field(default_factory=list)
    track: list = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: stats_ms(v) for stage, v in (('encode', self.encode), ('infer', self.infer),
                                 ('decode', self.decode), ('track', self.track)) if v}


# Above this many seconds per frame the start-up log says how to go faster (10 Hz).
SLOW_INFERENCE = 0.1


def network_size(input_shapes) -> str | None:
    """``WIDTHxHEIGHT`` of an image model's one 4-D input (NCHW or NHWC), else None."""
    shapes = [s for s in input_shapes if len(s) == 4]
    if len(shapes) != 1 or not all(isinstance(d, int) for d in shapes[0]):
        return None
    _, a, b, c = shapes[0]
    height, width = (a, b) if c in (1, 3) else (b, c)
    return f'{width}x{height}'


class InferenceStage:
    """The inference node's work, configured from its parameter values: backend choice,
    message-tensor <-> model-binding names, layout conversion, checks."""

    def __init__(self, values: Mapping[str, Any]):
        if not values['model_file_path']:
            raise ValueError('model_file_path is empty: set it to the model (ONNX or OpenVINO IR)')
        conversion = values['input_layout_conversion']
        if conversion != 'none' and conversion not in LAYOUT_CONVERSIONS:
            raise ValueError(f'input_layout_conversion must be none or one of '
                             f'{", ".join(LAYOUT_CONVERSIONS)}, got "{conversion}"')
        input_mapping = name_mapping(values['input_tensor_names'],
                                     values['input_binding_names'], 'input')
        output_mapping = name_mapping(values['output_tensor_names'],
                                      values['output_binding_names'], 'output')
        shape = [int(d) for d in values['input_shape']]
        self.input_shape = tuple(shape)
        self.backend: InferenceBackend
        self.backend, self.reason = create_backend(
            values['backend'], values['model_file_path'],
            engine_file_path=values['engine_file_path'],
            force_engine_update=values['force_engine_update'],
            enable_fp16=values['enable_fp16'],
            max_workspace_size=values['max_workspace_size'],
            device_id=values['device_id'],
            input_shapes={b: shape for b in (input_mapping or {}).values()} or None,
            intra_op_num_threads=values['intra_op_num_threads'],
            inter_op_num_threads=values['inter_op_num_threads'],
            openvino_device=values['openvino_device'],
            openvino_precision_hint=values['openvino_precision_hint'],
            openvino_num_threads=values['openvino_num_threads'])
        try:
            # After this, the mappings are explicit even when the names were left alike.
            self.input_mapping = check_mapping(input_mapping, self.backend.inputs, 'input')
            self.layout_conversions = ({} if conversion == 'none' else
                                       {name: conversion for name in self.input_mapping})
            check_mapping(self.input_mapping, self.backend.inputs, 'input',
                          self.layout_conversions)
            self.output_mapping = check_mapping(output_mapping, self.backend.outputs,
                                                'output')
        except ValueError:
            self.backend.close()
            raise

    def input_shapes(self) -> dict[str, tuple] | None:
        """Each model input's shape, dynamic dimensions taken from ``input_shape`` (what
        the encoder sends); None where that does not fill them."""
        shapes = {}
        for info in self.backend.inputs:
            shape = tuple(d if isinstance(d, int) and d > 0 else None for d in info.shape)
            if None in shape:
                if len(self.input_shape) != len(shape):
                    return None
                shape = tuple(d if d is not None else n for d, n in zip(shape, self.input_shape))
            shapes[info.name] = shape
        return shapes

    def time_per_frame(self, runs: int = 2) -> float | None:
        """Seconds per inference on this machine: the median of ``runs`` on zero inputs
        of the model's shapes, after one warm-up run (its allocations then do not delay
        the first frame). None when an input shape is not known."""
        shapes = self.input_shapes()
        if shapes is None:
            return None
        inputs = {i.name: np.zeros(shapes[i.name], i.dtype) for i in self.backend.inputs}
        times = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            self.backend.run(inputs)
            times.append(time.perf_counter() - start)
        return float(np.median(times[1:]))

    def speed_report(self, seconds: float) -> str:
        """What ``seconds`` per frame means for the user, for the start-up log."""
        size = network_size(list((self.input_shapes() or {}).values()))
        text = (f'inference of {size or "the model"} on {self.backend.description}: '
                f'{seconds * 1e3:.0f} ms per frame, at most {1.0 / seconds:.1f} Hz')
        if seconds > SLOW_INFERENCE:
            text += ('; a smaller network image (the encoder\'s network_image_width/height '
                     'and input_shape here) or the other model is faster (README '
                     '"Choosing a model and input size")')
        return text

    def describe(self) -> str:
        return ('model inputs: ' + ', '.join(i.describe() for i in self.backend.inputs) +
                '; outputs: ' + ', '.join(o.describe() for o in self.backend.outputs))

    def run(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Message tensors {name: array} -> output tensors {name: array}.

        ValueError for tensors that do not fit the model, RuntimeError when the
        backend fails."""
        check_tensor_names(tensors, self.input_mapping, 'encoded_tensor',
                           'the inference node reads input_tensor_names '
                           f'{list(self.input_mapping)}: set the encoder\'s tensor_name to '
                           'match')
        for name, array in tensors.items():
            check_finite(f'tensor "{name}"', array, 'its publisher sent broken values (the '
                         'image encoder never does)')
        inputs = prepare_inputs(tensors, self.backend.inputs, self.input_mapping,
                                self.layout_conversions)
        return rename_outputs(self.backend.run(inputs), self.backend.outputs,
                              self.output_mapping)

    def close(self) -> None:
        self.backend.close()


class Pipeline:
    """Encoder, inference backend and decoder configured from node parameter values.

    ``parameters``: {node name: {parameter: value}} as :func:`load_parameters_file`
    returns; ``overrides`` are applied on top, e.g. ``{'inference': {'backend':
    'onnxruntime'}}``.
    """

    def __init__(self, parameters: Mapping[str, Mapping[str, Any]],
                 overrides: Mapping[str, Mapping[str, Any]] | None = None):
        values = {node: dict(v) for node, v in parameters.items()}
        for node, changes in (overrides or {}).items():
            values[node].update(changes)
        self.values = values
        self.encoder = ImageEncoder(encoder_config(values[ENCODER_NODE]))
        self.inference = InferenceStage(values[INFERENCE_NODE])
        self.decoder = OpenPoseDecoder(decoder_params(values[DECODER_NODE]))
        try:
            check_channels(values[DECODER_NODE], self.decoder.params, self.inference)
        except ValueError:
            self.inference.close()
            raise
        self.tracker = Tracker(tracker_params(values[DECODER_NODE]),
                               len(self.decoder.params.labels))
        self.timings = Timings()

    @classmethod
    def from_file(cls, parameters_file: str | Path,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Pipeline:
        return cls(load_parameters_file(parameters_file), overrides)

    def infer(self, image: np.ndarray, encoding: str
              ) -> tuple[dict[str, np.ndarray], ImageGeometry]:
        """Encoder + network: the named network outputs and the geometry."""
        t0 = time.perf_counter()
        tensor, geometry = self.encoder.encode(image, encoding)
        t1 = time.perf_counter()
        outputs = self.inference.run({self.encoder.config.tensor_name: tensor})
        t2 = time.perf_counter()
        self.timings.encode.append((t1 - t0) * 1e3)
        self.timings.infer.append((t2 - t1) * 1e3)
        return outputs, geometry

    def decode(self, outputs: Mapping[str, np.ndarray], geometry: ImageGeometry | None
               ) -> list[Person]:
        t0 = time.perf_counter()
        heatmaps, pafs, maxpool = extract_maps(outputs, self.values[DECODER_NODE])
        people = self.decoder.decode(heatmaps, pafs, maxpool, geometry)
        self.timings.decode.append((time.perf_counter() - t0) * 1e3)
        return people

    def track(self, people: list[Person], stamp: float) -> Tracked:
        """The tracker's step (as the decoder node does it) for a frame at ``stamp`` (s)."""
        t0 = time.perf_counter()
        tracked = self.tracker.update(people, stamp)
        self.timings.track.append((time.perf_counter() - t0) * 1e3)
        return tracked

    def process(self, image: np.ndarray, encoding: str, stamp: float | None = None
                ) -> list[Person]:
        """People in one image (coordinates in that image's pixels). With the frame's
        ``stamp`` (s), frames of one stream in order: tracked (``tracking_id``) and, if
        smoothing is on, smoothed, as the decoder node publishes them."""
        outputs, geometry = self.infer(image, encoding)
        people = self.decode(outputs, geometry)
        return people if stamp is None else self.track(people, stamp).smoothed
