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
                                             load_parameters_file)


def extract_maps(arrays: Mapping[str, np.ndarray], values: Mapping[str, Any]):
    """Network outputs {name: array} -> (heatmaps, pafs, maxpool) HWC arrays, as the
    decoder node's tensor parameters say. ValueError names a missing tensor."""
    def tensor(key):
        name = values[key]
        if not name:
            return None
        if name not in arrays:
            raise ValueError(f'no tensor "{name}" ({key}) among {sorted(arrays)}')
        return arrays[name]

    start, stop = (int(v) for v in values['heatmap_channels'])
    return split_network_outputs(tensor('heatmap_tensor_name'), tensor('paf_tensor_name'),
                                 tensor('maxpool_tensor_name'),
                                 layout=values['tensor_layout'],
                                 heatmap_channels=(start, stop))


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

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: stats_ms(v) for stage, v in (('encode', self.encode), ('infer', self.infer),
                                 ('decode', self.decode)) if v}


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

    def describe(self) -> str:
        return ('model inputs: ' + ', '.join(i.describe() for i in self.backend.inputs) +
                '; outputs: ' + ', '.join(o.describe() for o in self.backend.outputs))

    def run(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Message tensors {name: array} -> output tensors {name: array}.

        ValueError for tensors that do not fit the model, RuntimeError when the
        backend fails."""
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

    def process(self, image: np.ndarray, encoding: str) -> list[Person]:
        """People in one image (coordinates in that image's pixels)."""
        outputs, geometry = self.infer(image, encoding)
        return self.decode(outputs, geometry)
