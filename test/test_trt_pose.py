"""config/trt_pose_resnet18.yaml end to end on a synthetic ONNX model with exactly the
signature of trt_pose's export_for_isaac.py (no trt_pose weights exist here).

The model ignores its input's content and outputs maps rendered from two known
skeletons, in trt_pose's conventions (its part order, NHWC, stride 4, y before x in each
PAF pair, its own max-pooled heatmap). The pipeline configured by the YAML file must
give those skeletons back in source-image pixels: that proves the tensor names,
layouts, channel conventions and coordinate mapping of the configuration.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from scipy.ndimage import maximum_filter

from conftest import REPO
from pose_estimation_ros.core.params import load_parameters_file
from pose_estimation_ros.core.pipeline import Pipeline
from synthetic_pose import render_heatmaps, render_pafs, skeleton

CONFIG = REPO / 'config' / 'trt_pose_resnet18.yaml'
# trt_pose part k is OpenPose COCO-18 part OPENPOSE_OF_TRT_POSE[k].
OPENPOSE_OF_TRT_POSE = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10, 1]
SIZE, MAP = 224, 56


def _maps(people, edges, edges_paf):
    heat = render_heatmaps(people, MAP, MAP)
    pafs = render_pafs(people, MAP, MAP, 42, edges=edges, edges_paf=edges_paf)
    pool = maximum_filter(heat, size=(3, 3, 1), mode='constant', cval=-np.inf)
    return {'heatmap': heat, 'part_affinity_fields': pafs, 'maxpool_heatmap': pool}


def _constant_model(maps) -> onnx.ModelProto:
    """input [1,3,224,224] -> NHWC outputs = maps + 0 * mean(input)."""
    nodes = [helper.make_node('ReduceMean', ['input'], ['mean'], keepdims=0),
             helper.make_node('Mul', ['mean', 'zero'], ['nothing'])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), 'zero')]
    outputs = []
    for name in ('part_affinity_fields', 'heatmap', 'maxpool_heatmap'):
        inits.append(numpy_helper.from_array(maps[name][None].astype(np.float32), f'{name}_c'))
        nodes.append(helper.make_node('Add', [f'{name}_c', 'nothing'], [name]))
        outputs.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, [1, MAP, MAP, maps[name].shape[2]]))
    graph = helper.make_graph(
        nodes, 'trt_pose_like', [helper.make_tensor_value_info(
            'input', TensorProto.FLOAT, [1, 3, SIZE, SIZE])], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_trt_pose_config_recovers_known_skeletons(tmp_path):
    values = load_parameters_file(CONFIG)
    decoder = values['openpose_decoder']
    edges = list(zip(decoder['edges'][::2], decoder['edges'][1::2]))
    edges_paf = list(zip(decoder['edges_paf'][::2], decoder['edges_paf'][1::2]))
    # Two people in map coordinates, parts in trt_pose order.
    truth = [skeleton(16.0, 20.0, 30.0)[OPENPOSE_OF_TRT_POSE],
             skeleton(40.0, 22.0, 26.0)[OPENPOSE_OF_TRT_POSE]]
    model = tmp_path / 'trt_pose_like.onnx'
    onnx.save(_constant_model(_maps(truth, edges, edges_paf)), str(model))

    pipeline = Pipeline(values, {'inference': {'model_file_path': str(model),
                                               'intra_op_num_threads': 1}})
    source_w, source_h = 640, 480
    image = np.full((source_h, source_w, 3), 127, np.uint8)
    people = pipeline.process(image, 'rgb8')

    assert len(people) == 2
    people.sort(key=lambda p: p.bbox[0])
    for person, expected in zip(people, truth):
        assert person.part_ids.tolist() == list(range(18))
        assert len(person.edge_ids) == 21  # every link found, in trt_pose's topology
        # map cell centre -> input pixels (stride 4) -> source pixels (stretch)
        expected_source = expected * [4 * source_w / SIZE, 4 * source_h / SIZE]
        error = np.abs(person.xy - expected_source)
        # within a quarter of a map cell (about 3 source pixels here)
        assert error.max() < 0.25 * 4 * source_w / SIZE, error.max()


def test_trt_pose_config_rejects_a_model_with_other_outputs(tmp_path):
    values = load_parameters_file(CONFIG)
    maps = _maps([], [(0, 1)], [(1, 0)])
    model = _constant_model(maps)
    model.graph.output[0].name = 'pafs'
    model.graph.node[2].output[0] = 'pafs'
    path = tmp_path / 'renamed.onnx'
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match='part_affinity_fields'):
        Pipeline(values, {'inference': {'model_file_path': str(path)}})
