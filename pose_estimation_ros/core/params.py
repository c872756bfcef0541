"""The nodes' parameters, declared once, and the parameters-file reader (no ROS imports).

Each node's parameters are a table of :class:`Param` rows (name, default, description,
range, read-only). The nodes declare them with full descriptors; the single-process
runner, the offline tool and the evaluation command read the same YAML files through
:func:`load_parameters_file` with the same defaults; the README tables and the launch
tests are checked against these tables.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from pose_estimation_ros.core.depth import DepthParams
from pose_estimation_ros.core.encoder import ImageEncoderConfig
from pose_estimation_ros.core.openpose import DecoderParams
from pose_estimation_ros.core.tracking import TrackerParams


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    # Inclusive (min, max) for numbers; rqt_reconfigure shows a slider.
    range: tuple[float, float] | None = None
    # True where a change needs a restart (model, sizes, topology).
    read_only: bool = True


INPUT_QOS = Param(
    'input_qos', 'auto',
    'Reliability of the image subscriptions: auto (as ros2 bag record: reliable while '
    'every publisher offers reliable, else best effort; followed as publishers come and '
    'go), sensor_data (best effort) or reliable. Depth 1: the newest frame is processed.')

# The nodes' defaults fit the bundled mobilenet_thin model (raw BGR 0..255, NHWC), so
# that the three nodes work together without a parameters file.
_ENC = ImageEncoderConfig(normalization_type='none', channel_order='bgr',
                          tensor_layout='nhwc', tensor_name='image')
ENCODER_NODE = 'image_encoder'
ENCODER_PARAMETERS = (
    Param('network_image_width', _ENC.network_image_width,
          'Width of the network input in pixels.', (1, 8192)),
    Param('network_image_height', _ENC.network_image_height,
          'Height of the network input in pixels.', (1, 8192)),
    Param('keep_aspect_ratio', _ENC.keep_aspect_ratio,
          'true: letterbox (one scale, image centred, rest padded); false: stretch.'),
    Param('padding_value', float(_ENC.padding_value),
          'Letterbox padding pixel value on the 8-bit scale, before normalisation.',
          (0.0, 255.0)),
    Param('normalization_type', _ENC.normalization_type,
          'none (raw 0..255), unit ([0, 1]), positive_negative ([-1, 1]) or mean_stddev '
          '((x/255 - image_mean) / image_stddev).'),
    Param('image_mean', [float(v) for v in _ENC.image_mean],
          'Per-channel mean for mean_stddev, in channel_order.'),
    Param('image_stddev', [float(v) for v in _ENC.image_stddev],
          'Per-channel standard deviation for mean_stddev, in channel_order.'),
    Param('channel_order', _ENC.channel_order, 'Channel order of the tensor: rgb or bgr.'),
    Param('tensor_layout', _ENC.tensor_layout,
          'Layout of the tensor: nchw (1x3xHxW) or nhwc (1xHxWx3).'),
    Param('tensor_name', _ENC.tensor_name,
          'Name of the tensor in the output TensorList (the model input it feeds).'),
    Param('data_type', _ENC.data_type,
          'Element type of the tensor: float32, float16, float64 or uint8.'),
    Param('subscribe_compressed', False,
          'Also subscribe to image/compressed (sensor_msgs/CompressedImage).'),
    INPUT_QOS,
)

INFERENCE_NODE = 'inference'
INFERENCE_PARAMETERS = (
    Param('backend', 'auto',
          'tensorrt, openvino, onnxruntime, or auto (TensorRT when tensorrt, pycuda and a '
          'CUDA GPU are present, else OpenVINO when installed, else ONNX Runtime).'),
    Param('model_file_path', '',
          'Path of the model: ONNX, or OpenVINO IR (.xml with its .bin beside it) for '
          'backend openvino (empty: the installed default model, see README "Models").'),
    Param('engine_file_path', '',
          'TensorRT: where the engine built from the ONNX model is cached (empty: the '
          'model path with .engine); rebuilt when the ONNX file changes.'),
    Param('force_engine_update', False, 'TensorRT: rebuild the engine even if cached.'),
    Param('enable_fp16', True, 'TensorRT: allow FP16 kernels.'),
    Param('max_workspace_size', 1 << 30, 'TensorRT: builder workspace in bytes.',
          (1 << 20, 1 << 36)),
    Param('device_id', 0, 'CUDA device index (TensorRT, ONNX Runtime CUDA provider).',
          (0, 64)),
    Param('intra_op_num_threads', 0,
          'ONNX Runtime: threads within an operator (0: one per core).', (0, 256)),
    Param('inter_op_num_threads', 0,
          'ONNX Runtime: threads across operators (0: default).', (0, 256)),
    Param('openvino_device', 'CPU',
          'OpenVINO: device, CPU, GPU (Intel graphics), AUTO or another device OpenVINO '
          'lists.'),
    Param('openvino_precision_hint', 'f32',
          'OpenVINO: inference precision hint f32, bf16 or f16 (empty: the device\'s '
          'default, bf16 on CPUs with AMX, which costs mobilenet_thin 0.03-0.06 AP); INT8 '
          'layers of a quantized model stay INT8.'),
    Param('openvino_num_threads', 0,
          'OpenVINO: CPU inference threads (0: OpenVINO decides).', (0, 256)),
    Param('input_tensor_names', ['image'],
          'Names of the input message tensors, paired one to one with '
          'input_binding_names.'),
    Param('input_binding_names', ['image'], 'Model input names fed by those tensors.'),
    Param('input_layout_conversion', 'none',
          'Transpose 4-D input tensors before inference: none, nchw_to_nhwc or '
          'nhwc_to_nchw.'),
    Param('input_shape', [1, 368, 432, 3],
          'Model input shape, in the model\'s layout (the encoder\'s tensor shape). '
          'TensorRT: the optimization profile of dynamic dimensions; OpenVINO: the model is '
          'reshaped to it.'),
    Param('output_binding_names', ['Openpose/concat_stage7'], 'Model outputs to publish.'),
    Param('output_tensor_names', ['Openpose/concat_stage7'],
          'Names given to those outputs in the published TensorList.'),
)

_DEC = DecoderParams()
_TRK = TrackerParams()
DECODER_NODE = 'openpose_decoder'
DECODER_PARAMETERS = (
    # Which tensors and channels hold the maps.
    Param('heatmap_tensor_name', 'Openpose/concat_stage7',
          'Tensor holding the part heatmaps.'),
    Param('paf_tensor_name', '',
          'Tensor holding the Part Affinity Fields (empty: the heatmap tensor, whose '
          'channels edges_paf then addresses).'),
    Param('maxpool_tensor_name', '',
          'Tensor holding the max-pooled heatmaps, if the network outputs one (else NMS '
          'computes it with nms_kernel_size).'),
    Param('tensor_layout', 'NHWC', 'Layout of those tensors: NHWC or NCHW.'),
    Param('heatmap_channels', [0, len(_DEC.labels)],
          '[start, stop) channels of the heatmap tensor that are part heatmaps.'),
    # Topology (Isaac's names).
    Param('labels', list(_DEC.labels), 'Part names, indexed by part id.'),
    Param('edges', [v for pair in _DEC.edges for v in pair],
          'Directed limbs as flattened part-id pairs [a0, b0, a1, b1, ...].'),
    Param('edges_paf', [v for pair in _DEC.edges_paf for v in pair],
          'PAF channels (x, y) of each edge, flattened like edges.'),
    # Decoding (Isaac's names), changeable live.
    Param('threshold_heatmap', _DEC.threshold_heatmap,
          'Minimum heatmap peak value of a part candidate.', (0.0, 1.0), False),
    Param('threshold_edge_size', _DEC.threshold_edge_size,
          'Candidate part pairs closer than this (heatmap cells) are no edge.', (0.0, 100.0),
          False),
    Param('threshold_edge_score', _DEC.threshold_edge_score,
          'A PAF sample counts when its dot product with the edge direction exceeds this.',
          (-1.0, 1.0), False),
    Param('threshold_edge_sampling_counter', _DEC.threshold_edge_sampling_counter,
          'An edge needs more than this many counting samples.', (0, 99), False),
    Param('edge_sampling_steps', _DEC.edge_sampling_steps,
          'PAF samples along each candidate edge.', (1, 100), False),
    Param('threshold_part_counter', _DEC.threshold_part_counter,
          'Minimum number of parts of a person.', (1, 100), False),
    Param('threshold_object_score', _DEC.threshold_object_score,
          'Minimum person score per part.', (0.0, 10.0), False),
    Param('threshold_split_score', _DEC.threshold_split_score,
          'Two fragments sharing a part type are merged when the split scores below this.',
          (0.0, 100.0), False),
    Param('refine_parts_coordinates', _DEC.refine_parts_coordinates,
          'Sub-pixel refinement of the heatmap peaks.', None, False),
    Param('refine_peak_sigma', _DEC.refine_peak_sigma,
          'Width (Gaussian sigma, heatmap cells) of the network\'s part peaks, used by '
          'the refinement (0: estimated per peak; else at least 0.05).', (0.0, 10.0), False),
    Param('matching', _DEC.matching,
          'Per-edge-type one-to-one matching: greedy (by score) or hungarian (optimal).',
          None, False),
    Param('part_confidence_weight', _DEC.part_confidence_weight,
          'Edges are matched and assembled by PAF score + this x the smaller confidence '
          'of their two parts (0: PAF score alone).', (0.0, 10.0), False),
    Param('nms_kernel_size', _DEC.nms_kernel_size,
          'Max-pool window (odd) of the peak search.', (3, 15), False),
    Param('output_scale', [0.0, 0.0],
          '[sx, sy] multiplying heatmap coordinates, overriding the image geometry '
          '([0, 0]: map to source pixels with the geometry the encoder sends).', None, False),
    # Visualisation.
    Param('marker_pixel_size', 0.002,
          'RViz markers: metres per image pixel (markers lie on z = 0 of the image '
          'frame, x right, y down).', (1e-6, 1.0), False),
    Param('marker_joint_diameter', 0.02, 'RViz markers: joint sphere diameter (m).',
          (1e-4, 1.0), False),
    Param('marker_line_width', 0.01, 'RViz markers: limb line width (m).', (1e-4, 1.0),
          False),
    Param('marker_lifetime', 1.0,
          'RViz markers: seconds they stay without a new frame (0: forever).',
          (0.0, 3600.0), False),
    # Tracking (core/tracking.py), changeable live; time from the header stamps.
    Param('tracking_enabled', _TRK.tracking_enabled,
          'Give each skeleton a tracking_id kept across frames (false: every id is 0).',
          None, False),
    Param('tracking_min_similarity', _TRK.tracking_min_similarity,
          'A detection continues a track only if their similarity (keypoint_weight x OKS '
          '+ the rest x box IoU, after motion prediction) reaches this.', (0.0, 1.0), False),
    Param('tracking_keypoint_weight', _TRK.tracking_keypoint_weight,
          'Weight of keypoint similarity (OKS over the parts both have) against box '
          'overlap (IoU) in the similarity.', (0.0, 1.0), False),
    Param('tracking_keypoint_sigma', _TRK.tracking_keypoint_sigma,
          'OKS tolerance: a part this many person scales (square root of the box area) '
          'away from its prediction scores exp(-1/2).', (0.001, 10.0), False),
    Param('tracking_confirm_hits', _TRK.tracking_confirm_hits,
          'Frames in a row a new person must be seen before getting an id (id 0 until '
          'then).', (1, 100), False),
    Param('tracking_max_misses', _TRK.tracking_max_misses,
          'Frames in a row a tracked person may be missed (occluded) before the id is '
          'retired; ids are never reused.', (0, 1000), False),
    Param('tracking_velocity_smoothing', _TRK.tracking_velocity_smoothing,
          'Constant-velocity motion model: weight of the old velocity against the new '
          'measurement (0: last measurement only).', (0.0, 1.0), False),
    Param('smoothing_enabled', _TRK.smoothing_enabled,
          'One Euro filter on the keypoints of tracked people (skeletons carries the '
          'filtered ones, skeletons_raw the detections).', None, False),
    Param('smoothing_min_cutoff', _TRK.smoothing_min_cutoff,
          'One Euro filter: cutoff frequency (Hz) at rest; lower: smoother, more lag.',
          (0.001, 1000.0), False),
    Param('smoothing_beta', _TRK.smoothing_beta,
          'One Euro filter: cutoff increase per px/s of speed; higher: less lag when '
          'moving.', (0.0, 10.0), False),
    INPUT_QOS,
)

_DEPTH = DepthParams()
SKELETON_3D_NODE = 'skeleton_3d'
SKELETON_3D_PARAMETERS = (
    # How depth is read around each keypoint (core.depth's robustness rule).
    Param('depth_window_size', _DEPTH.window_size,
          'Side (odd, depth-image pixels) of the window read around each keypoint.',
          (1, 31), False),
    Param('person_depth_tolerance', _DEPTH.person_depth_tolerance,
          'Depth values further than this (m) from the person\'s reference depth are not '
          'the person (background behind a limb, something in front).', (0.01, 5.0), False),
    Param('min_valid_pixels', _DEPTH.min_valid_pixels,
          'A keypoint needs at least this many window pixels on the person\'s surface, '
          'else it is invalid.', (1, 961), False),
    Param('min_depth', _DEPTH.min_depth,
          'Depth readings nearer than this (m) are dropped.', (0.0, 100.0), False),
    Param('max_depth', _DEPTH.max_depth,
          'Depth readings further than this (m) are dropped.', (0.01, 1000.0), False),
    Param('rectified', False,
          'true when the colour images the skeletons come from are rectified (image_rect): '
          'the intrinsics are CameraInfo P\'s, without undistortion; false: K and D.',
          None, False),
    # Pairing skeletons with depth images and CameraInfo by stamp.
    Param('stamp_tolerance', 0.0,
          'A depth image / CameraInfo pairs with a Skeleton2DArray when their stamps are '
          'at most this far apart (s; 0: equal stamps only); the nearest one wins.',
          (0.0, 1.0), False),
    Param('queue_size', 10,
          'Depth images, CameraInfo and skeleton arrays kept per stream while waiting for '
          'their pair.', (1, 100)),
    # Visualisation.
    Param('marker_joint_diameter', 0.05, 'RViz 3D markers: joint sphere diameter (m).',
          (1e-4, 1.0), False),
    Param('marker_line_width', 0.02, 'RViz 3D markers: limb line width (m).', (1e-4, 1.0),
          False),
    Param('marker_lifetime', 1.0,
          'RViz 3D markers: seconds they stay without a new frame (0: forever).',
          (0.0, 3600.0), False),
    Param('input_qos', INPUT_QOS.default,
          'Reliability of the depth and camera_info subscriptions: auto (reliable while '
          'every publisher offers reliable, else best effort), sensor_data (best effort) '
          'or reliable; each keeps queue_size messages.'),
)

NODE_PARAMETERS = {ENCODER_NODE: ENCODER_PARAMETERS, INFERENCE_NODE: INFERENCE_PARAMETERS,
                   DECODER_NODE: DECODER_PARAMETERS, SKELETON_3D_NODE: SKELETON_3D_PARAMETERS}


def defaults(params) -> dict[str, Any]:
    return {p.name: p.default for p in params}


def encoder_config(values: Mapping[str, Any]) -> ImageEncoderConfig:
    """Encoder node parameters -> validated core config."""
    keys = {f.name for f in fields(ImageEncoderConfig)}
    return ImageEncoderConfig(**{k: v for k, v in values.items() if k in keys}).validate()


def decoder_params(values: Mapping[str, Any]) -> DecoderParams:
    """Decoder node parameters -> validated core parameters ([0, 0] output_scale: none)."""
    keys = {f.name for f in fields(DecoderParams)}
    chosen = {k: v for k, v in values.items() if k in keys}
    if not any(chosen.get('output_scale') or ()):
        chosen['output_scale'] = None
    return DecoderParams(**chosen).validate()


def depth_params(values: Mapping[str, Any]) -> DepthParams:
    """skeleton_3d node parameters -> validated core parameters."""
    return DepthParams(window_size=values['depth_window_size'],
                       person_depth_tolerance=values['person_depth_tolerance'],
                       min_valid_pixels=values['min_valid_pixels'],
                       min_depth=values['min_depth'], max_depth=values['max_depth']).validate()


def tracker_params(values: Mapping[str, Any]) -> TrackerParams:
    """Decoder node parameters -> validated tracker parameters."""
    return TrackerParams.from_values(values)


# Parameters rclpy declares on every node, and its QoS override parameters.
ROS_PARAMETERS = ('use_sim_time', 'start_type_description_service')
QOS_OVERRIDES_PREFIX = 'qos_overrides.'


def unknown_parameters_error(where: str, unknown, known) -> ValueError:
    """ValueError naming each unknown parameter and the closest valid name."""
    known = sorted(known)
    named = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        named.append(f'"{name}"' + (f' (did you mean "{close[0]}"?)' if close else ''))
    return ValueError(f'{where}: unknown parameter{"s" if len(named) > 1 else ""} '
                      f'{", ".join(named)}; valid names: {", ".join(known)}')


def _read_yaml(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f'cannot read parameters file {path}: {error}') from error
    if not isinstance(document, dict):
        raise ValueError(f'parameters file {path} must be a mapping of node names to '
                         f'ros__parameters sections')
    return document


def check_node_section(path: str | Path, node_fqn: str, declared) -> None:
    """Refuse unknown names in the sections of a ROS 2 parameters file that address the
    node ``node_fqn`` (``/ns/name``) by name: exactly, without namespace, or with
    ``*``/``**`` namespace patterns (``/**/openpose_decoder``).

    rclpy silently ignores parameters a node does not declare, so a misspelt name would
    leave the default in place. Sections of other nodes and those for every node
    (``/**``, ``/ns/*``: shared by all the nodes of a robot) are not checked. ValueError
    names each unknown parameter and the closest valid one.
    """
    path = Path(path)
    fqn = '/' + node_fqn.strip('/')
    name = fqn.rsplit('/', 1)[-1]
    known = set(declared) | set(ROS_PARAMETERS)
    for key, section in _read_yaml(path).items():
        key = '/' + str(key).strip('/')
        if '*' in key.rsplit('/', 1)[-1]:
            continue  # /**, /ns/*: sections for every node
        patterns = (key.replace('**', '*'), key.replace('/**/', '/'))
        if not (key == '/' + name or any(fnmatch.fnmatchcase(fqn, p) for p in patterns)):
            continue
        values = (section or {}).get('ros__parameters') if isinstance(section, dict) else None
        if not isinstance(values, dict):
            raise ValueError(f'{path}: section "{key}" has no ros__parameters mapping')
        unknown = [n for n in _flatten(values)
                   if n not in known and not n.startswith(QOS_OVERRIDES_PREFIX)]
        if unknown:
            raise unknown_parameters_error(f'parameters file {path}, section "{key}" '
                                           f'(node {fqn})', unknown, declared)


def _flatten(values: Mapping[str, Any], prefix: str = '') -> list[str]:
    """Parameter names of a ros__parameters mapping (nested maps are dotted names)."""
    names = []
    for key, value in values.items():
        if isinstance(value, dict):
            names += _flatten(value, f'{prefix}{key}.')
        else:
            names.append(f'{prefix}{key}')
    return names


def load_parameters_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """{node name: {parameter: value}} from a ROS 2 parameters YAML file.

    Understands the standard layout: sections named after a node (``openpose_decoder:``,
    optionally with a namespace, ``/ns/openpose_decoder:``) or the wildcard ``/**:``,
    each with ``ros__parameters``. Wildcard values apply to every node that declares
    them; node sections win. Values start from the declared defaults; a name that no
    node declares raises ValueError (a typo would otherwise be ignored silently).
    """
    path = Path(path)
    document = _read_yaml(path)
    result = {node: defaults(params) for node, params in NODE_PARAMETERS.items()}
    wildcard, sections = {}, {}
    for key, section in document.items():
        values = (section or {}).get('ros__parameters')
        if not isinstance(values, dict):
            raise ValueError(f'{path}: section "{key}" has no ros__parameters mapping')
        name = str(key).rstrip('/').split('/')[-1]
        if name == '**':
            wildcard.update(values)
        elif name in result:
            sections[name] = values
        else:
            raise ValueError(f'{path}: section "{key}" names no node of this package; nodes: '
                             f'{", ".join(NODE_PARAMETERS)}')
    for name, value in wildcard.items():
        if not any(name in result[node] for node in result) and name not in ROS_PARAMETERS:
            raise unknown_parameters_error(f'{path}, section "/**" (declared by no node)',
                                           [name], {n for v in result.values() for n in v})
        for node in result:
            if name in result[node]:
                result[node][name] = value
    for node, values in sections.items():
        unknown = sorted(set(values) - set(result[node]) - set(ROS_PARAMETERS))
        if unknown:
            raise unknown_parameters_error(f'{path}, section "{node}"', unknown,
                                           result[node])
        result[node].update(values)
    return result
