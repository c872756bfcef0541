"""Conversions between ROS messages and the pure core's numpy types.

The only place where messages are built or read: the nodes, the single-process runner
and the offline bag tool all go through these functions.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from pose_estimation_ros.core import drawing
from pose_estimation_ros.core.depth import (CameraModel, DepthParams, Skeletons3D,
                                            depth_to_metres, lift_keypoints)
from pose_estimation_ros.core.encoder import (check_image_fields, decode_compressed,
                                              image_to_array)
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import Person
from pose_estimation_ros.core.tensors import fill_tensor, tensor_to_array, to_byte_array
from pose_estimation_ros.msg import (ImageGeometry as ImageGeometryMsg, Keypoint2D, Keypoint3D,
                                     Skeleton2D, Skeleton2DArray, Skeleton3D, Skeleton3DArray,
                                     Tensor, TensorList)

try:  # Optional: cv_bridge is the reference conversion where ROS provides it.
    from cv_bridge import CvBridge
    _bridge = CvBridge()
except ImportError:  # pragma: no cover - depends on the installation
    _bridge = None

try:  # Optional: person boxes as vision_msgs/Detection2DArray.
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
except ImportError:  # pragma: no cover - depends on the installation
    Detection2DArray = None

HAVE_CV_BRIDGE = _bridge is not None
HAVE_VISION_MSGS = Detection2DArray is not None
# An ImageGeometry message left at its defaults: no geometry.
_NO_GEOMETRY = ImageGeometry(0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)


# ------------------------------------------------------------------ images
def image_msg_to_array(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> HxW or HxWxC array in the message's own channel order.

    Uses cv_bridge when installed, else the core's numpy path (same results for the
    supported encodings); raises ValueError with the reason for anything unusable. The
    fields are checked first (O(1)), so both paths refuse the same messages with the
    same reasons; rows whose padding is not a whole number of pixels and 16-bit data in
    the other byte order take the numpy path (cv_bridge misreads the former).
    """
    dtype, channels = check_image_fields(msg.width, msg.height, msg.step, msg.encoding,
                                         len(msg.data))
    pixel_bytes = channels * dtype.itemsize
    plain = msg.step % pixel_bytes == 0 and (dtype.itemsize == 1 or not msg.is_bigendian)
    if _bridge is not None and plain:
        try:
            return _bridge.imgmsg_to_cv2(msg, desired_encoding='passthrough')
        except Exception as error:  # cv_bridge raises its own CvBridgeError
            raise ValueError(f'cannot convert image ({msg.encoding}): {error}') from error
    return image_to_array(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                          bool(msg.is_bigendian))


def compressed_msg_to_array(msg: CompressedImage) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage -> (array, encoding of that array)."""
    return decode_compressed(msg.data, msg.format)


def array_to_image_msg(image: np.ndarray, encoding: str, header: Header) -> Image:
    """HxWxC uint8 array -> sensor_msgs/Image, data filled as one buffer copy."""
    image = np.ascontiguousarray(image)
    msg = Image(header=header, height=image.shape[0], width=image.shape[1],
                encoding=encoding, is_bigendian=0)
    msg.step = image.strides[0]
    msg.data = to_byte_array(image)
    return msg


# ------------------------------------------------------------------ tensors
def geometry_to_msg(geometry: ImageGeometry) -> ImageGeometryMsg:
    return ImageGeometryMsg(
        source_width=geometry.source_width, source_height=geometry.source_height,
        input_width=geometry.input_width, input_height=geometry.input_height,
        scale_x=float(geometry.scale_x), scale_y=float(geometry.scale_y),
        offset_x=float(geometry.offset_x), offset_y=float(geometry.offset_y))


def geometry_from_msg(msg: ImageGeometryMsg) -> ImageGeometry | None:
    """The geometry a TensorList carries, or None when it was left empty (all zero).

    ValueError when it is set but inconsistent (zero or negative sizes or scales,
    offsets outside the input): mapping through it would give nonsense coordinates.
    """
    geometry = ImageGeometry(msg.source_width, msg.source_height, msg.input_width,
                             msg.input_height, msg.scale_x, msg.scale_y, msg.offset_x,
                             msg.offset_y)
    if geometry == _NO_GEOMETRY:
        return None
    return geometry.validate()


def tensor_list_msg(header: Header, arrays: Mapping[str, np.ndarray],
                    geometry: ImageGeometry | ImageGeometryMsg | None) -> TensorList:
    msg = TensorList(header=header)
    msg.tensors = [fill_tensor(Tensor(), name, array) for name, array in arrays.items()]
    if isinstance(geometry, ImageGeometry):
        msg.geometry = geometry_to_msg(geometry)
    elif geometry is not None:
        msg.geometry = geometry
    return msg


def tensor_list_arrays(msg: TensorList) -> dict[str, np.ndarray]:
    """{name: read-only array view} of a TensorList; ValueError on a malformed tensor."""
    arrays = {}
    for tensor in msg.tensors:
        if tensor.name in arrays:
            raise ValueError(f'tensor name "{tensor.name}" appears twice')
        arrays[tensor.name] = tensor_to_array(tensor)
    return arrays


# ------------------------------------------------------------------ skeletons
# Building many small messages through their constructors costs about 1-2 us each
# (keyword parsing, property setters), 20 us for a Marker: too much for hundreds of
# keypoints per frame. Where the generated class has the usual rosidl layout (a slot
# "_<field>" per field and "_check_fields"), the per-element messages are made with
# __new__ and their slots filled directly, about 10x faster; test_messages.py checks
# that the result equals the constructors'. Other layouts use the constructors.
def _has_slots(cls, fields: Sequence[str]) -> bool:
    # With ROS_PYTHON_CHECK_FIELDS=1 (rosidl's debugging aid) the checking constructors.
    return (set(cls.__slots__) == {'_' + f for f in fields} | {'_check_fields'}
            and os.environ.get('ROS_PYTHON_CHECK_FIELDS', '') != '1')


_FAST_KEYPOINT = _has_slots(Keypoint2D, ('part_id', 'label', 'x', 'y', 'confidence'))
_FAST_POINT = _has_slots(Point, ('x', 'y', 'z'))
_FAST_POSE = _has_slots(Pose, ('position', 'orientation'))
_FAST_MARKER = _has_slots(Marker, tuple(Marker.get_fields_and_field_types()))


def _keypoint(part_id: int, label: str, x: float, y: float, confidence: float) -> Keypoint2D:
    if not _FAST_KEYPOINT:
        return Keypoint2D(part_id=part_id, label=label, x=x, y=y, confidence=confidence)
    k = Keypoint2D.__new__(Keypoint2D)
    k._check_fields = False
    k._part_id, k._label, k._x, k._y, k._confidence = part_id, label, x, y, confidence
    return k


def _point(x: float, y: float) -> Point:
    if not _FAST_POINT:
        return Point(x=x, y=y, z=0.0)
    point = Point.__new__(Point)
    point._check_fields = False
    point._x, point._y, point._z = x, y, 0.0
    return point


def _pose(position: Point, orientation) -> Pose:
    if not _FAST_POSE:
        return Pose(position=position, orientation=orientation)
    pose = Pose.__new__(Pose)
    pose._check_fields = False
    pose._position, pose._orientation = position, orientation
    return pose


def _marker_like(prototype: Marker, **changes) -> Marker:
    """A Marker with ``prototype``'s fields (nested messages shared, lists fresh) and
    ``changes``."""
    if not _FAST_MARKER:
        marker = Marker()
        for name in Marker.get_fields_and_field_types():
            value = getattr(prototype, name)
            setattr(marker, name, list(value) if isinstance(value, list) else value)
    else:
        marker = Marker.__new__(Marker)
        for slot in Marker.__slots__:
            setattr(marker, slot, getattr(prototype, slot))
        marker._points, marker._colors, marker._uv_coordinates = [], [], []
    for name, value in changes.items():
        setattr(marker, name, value)
    return marker


def skeleton_array_msg(header: Header, people: Sequence[Person], labels: Sequence[str],
                       edges: Sequence[tuple[int, int]]) -> Skeleton2DArray:
    msg = Skeleton2DArray(header=header, labels=list(labels))
    msg.edges = [int(v) for pair in edges for v in pair]
    skeletons = []
    for person in people:
        x_min, y_min, x_max, y_max = (float(v) for v in person.bbox)
        skeleton = Skeleton2D(tracking_id=int(person.tracking_id), score=float(person.score),
                              x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)
        skeleton.keypoints = [_keypoint(int(part), labels[int(part)], x, y, c)
                              for part, x, y, c in person.keypoints.tolist()]
        skeleton.edge_ids = person.edge_ids.astype(np.int32, copy=False).tolist()
        skeletons.append(skeleton)
    msg.skeletons = skeletons
    return msg


def _rgba(color: Sequence[int], alpha: float = 1.0) -> ColorRGBA:
    b, g, r = color  # drawing palettes are BGR (OpenCV)
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


# Colours as messages, made once (shared by every marker array: read-only).
@lru_cache(maxsize=8)
def _palettes(num_parts: int, num_edges: int) -> tuple[list[ColorRGBA], list[ColorRGBA]]:
    return ([_rgba(c) for c in drawing.part_colors(num_parts)],
            [_rgba(c) for c in drawing.limb_colors(num_edges)])


@lru_cache(maxsize=1024)
def _id_rgba(tracking_id: int) -> ColorRGBA:
    return _rgba(drawing.id_color(tracking_id))


# Marker namespaces (under the ``namespace`` argument) and the ids in them.
JOINTS_NS, LIMBS_NS, IDS_NS = 'joints', 'limbs', 'ids'


def _skeleton_markers(header: Header, people, edges: Sequence[tuple[int, int]],
                      num_parts: int, *, joint_diameter: float, line_width: float,
                      lifetime: float, namespace: str) -> MarkerArray:
    """The marker layout of :func:`marker_array_msg` (2D) and :func:`marker_array_3d_msg`
    (3D). ``people``: per person ``(points, edge_ids, tracking_id, label_point)``, with
    ``points`` {part id: Point} of the parts to draw; a limb is drawn when both its parts
    are; ``label_point`` is where the ``#id`` text goes (tracked people only)."""
    life = Duration(sec=int(lifetime), nanosec=int((lifetime % 1) * 1e9))
    prototype = Marker(header=header, ns=f'{namespace}/{JOINTS_NS}', id=0,
                       type=Marker.SPHERE_LIST, action=Marker.ADD, lifetime=life)
    prototype.pose.orientation.w = 1.0
    prototype.scale.x = prototype.scale.y = prototype.scale.z = joint_diameter
    prototype.color.a = 1.0
    markers = [_marker_like(prototype, action=Marker.DELETEALL, ns=namespace, type=0)]
    if not people:
        return MarkerArray(markers=markers)
    part_colors, limb_colors = _palettes(
        max([num_parts] + [int(p) + 1 for e in edges for p in e]), len(edges))
    joints = _marker_like(prototype)
    limbs = _marker_like(prototype, ns=f'{namespace}/{LIMBS_NS}', type=Marker.LINE_LIST,
                         scale=type(prototype.scale)(x=line_width))
    text_scale = type(prototype.scale)(z=3 * joint_diameter)
    markers += [joints, limbs]
    joint_points, joint_colors = joints.points, joints.colors
    limb_points, limb_colors_out = limbs.points, limbs.colors
    for points, edge_ids, tracking_id, label_point in people:
        joint_points += points.values()
        if tracking_id:
            color = _id_rgba(tracking_id)
            joint_colors += [color] * len(points)
        else:
            joint_colors += [part_colors[p] for p in points]
        for edge in edge_ids:
            a, b = edges[edge]
            if a in points and b in points:
                limb_points += (points[a], points[b])
                limb_colors_out += (color if tracking_id else limb_colors[edge],) * 2
        if tracking_id:
            pose = _pose(label_point, prototype.pose.orientation)
            markers.append(_marker_like(prototype, ns=f'{namespace}/{IDS_NS}', id=tracking_id,
                                        type=Marker.TEXT_VIEW_FACING, text=f'#{tracking_id}',
                                        pose=pose, scale=text_scale, color=color))
    return MarkerArray(markers=markers)


def marker_array_msg(header: Header, people: Sequence[Person],
                     edges: Sequence[tuple[int, int]], *, pixel_size: float,
                     joint_diameter: float, line_width: float, lifetime: float,
                     namespace: str = 'skeleton') -> MarkerArray:
    """RViz markers of the skeletons, in the image's frame.

    Image pixels are placed on the frame's z = 0 plane scaled by ``pixel_size`` metres,
    x right and y down as in the image (an optical frame, REP-103). A few markers for
    everyone (10 people: 13 markers, not 190): the first is DELETEALL, so people gone
    since the last frame disappear; then ``<namespace>/joints`` id 0, a SPHERE_LIST of
    every joint, ``<namespace>/limbs`` id 0, a LINE_LIST of every limb, and per tracked
    person a TEXT_VIEW_FACING label ``#<tracking_id>`` in ``<namespace>/ids`` with the
    tracking id as marker id (above the box's top-left corner). A tracked person is
    drawn in its id's colour (:func:`~pose_estimation_ros.core.drawing.id_color`, as on
    the overlay); untracked people (id 0) in the per-part and per-limb colours. Nested
    messages (header, pose, scale, lifetime) are shared between the markers of one
    array: treat it as read-only.
    """
    lift = 3 * joint_diameter  # the label's height: above the box
    drawn = [({part: _point(x, y) for part, (x, y) in zip(
                  person.part_ids.tolist(), (person.xy * pixel_size).tolist())},
              person.edge_ids.tolist(), int(person.tracking_id),
              _point(float(person.bbox[0]) * pixel_size,
                     float(person.bbox[1]) * pixel_size - lift))
             for person in people]
    num_parts = max((int(p) for e in edges for p in e), default=0) + 1
    return _skeleton_markers(header, drawn, edges, num_parts, joint_diameter=joint_diameter,
                             line_width=line_width, lifetime=lifetime, namespace=namespace)


def detection_array_msg(header: Header, people: Sequence[Person]):
    """vision_msgs/Detection2DArray of person boxes (None when vision_msgs is missing)."""
    if Detection2DArray is None:
        return None
    msg = Detection2DArray(header=header)
    for person in people:
        x_min, y_min, x_max, y_max = (float(v) for v in person.bbox)
        detection = Detection2D(header=header)
        # vision_msgs >= 4 (Humble and later): center is a Pose2D with .position.
        detection.bbox.center.position.x = (x_min + x_max) / 2
        detection.bbox.center.position.y = (y_min + y_max) / 2
        detection.bbox.size_x = x_max - x_min
        detection.bbox.size_y = y_max - y_min
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = 'person'
        hypothesis.hypothesis.score = float(person.score)
        detection.results = [hypothesis]
        msg.detections.append(detection)
    return msg


# ------------------------------------------------------------------ 3D skeletons
def depth_msg_to_metres(msg: Image) -> np.ndarray:
    """Depth sensor_msgs/Image (16UC1/mono16 mm, 32FC1 m) -> (H, W) float32 metres, NaN
    where the driver had no reading; ValueError with the reason for anything else."""
    return depth_to_metres(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                           bool(msg.is_bigendian))


def camera_model_from_msg(msg: CameraInfo, rectified: bool = False) -> CameraModel:
    """sensor_msgs/CameraInfo -> the core's camera model (ValueError when unusable)."""
    return CameraModel.from_camera_info(msg.width, msg.height, list(msg.k), list(msg.d),
                                        msg.distortion_model, list(msg.p), rectified)


def camera_info_from_yaml(document: Mapping, header: Header) -> CameraInfo:
    """sensor_msgs/CameraInfo from a camera_calibration_parsers YAML document (the
    ``camera_info.yaml`` a calibration writes); ValueError naming a missing field."""
    def matrix(key: str, size: int) -> list[float]:
        try:
            values = [float(v) for v in document[key]['data']]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f'camera_info YAML: no valid {key}.data ({error})') from error
        if size and len(values) != size:
            raise ValueError(f'camera_info YAML: {key} has {len(values)} values, not {size}')
        return values

    try:
        width, height = int(document['image_width']), int(document['image_height'])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'camera_info YAML: no valid image_width/height ({error})') from error
    return CameraInfo(header=header, width=width, height=height,
                      distortion_model=str(document.get('distortion_model', 'plumb_bob')),
                      d=matrix('distortion_coefficients', 0), k=matrix('camera_matrix', 9),
                      r=matrix('rectification_matrix', 9), p=matrix('projection_matrix', 12))


def skeleton_keypoints(msg: Skeleton2DArray) -> tuple[np.ndarray, int]:
    """(P, K, 2) keypoint pixels of a Skeleton2DArray (NaN for parts not found) and K,
    the number of part types (its labels, or the largest part id + 1)."""
    parts = [[(k.part_id, k.x, k.y) for k in s.keypoints] for s in msg.skeletons]
    num_parts = max([len(msg.labels)] + [p + 1 for rows in parts for p, _, _ in rows])
    xy = np.full((len(parts), num_parts, 2), np.nan)
    for index, rows in enumerate(parts):  # one assignment per person
        if rows:
            ids, x, y = np.array(rows, dtype=np.float64).T
            xy[index, ids.astype(np.int64)] = np.stack([x, y], axis=1)
    return xy, num_parts


def skeleton_3d_array_msg(msg: Skeleton2DArray, result: Skeletons3D) -> Skeleton3DArray:
    """The 3D counterpart of a Skeleton2DArray: same header, topology and people (ids,
    scores, parts, limbs), each part with its 3D position and validity flag."""
    out = Skeleton3DArray(header=msg.header, labels=list(msg.labels), edges=list(msg.edges))
    xyz, valid, centroid = result.xyz.tolist(), result.valid.tolist(), result.centroid.tolist()
    skeletons = []
    for index, skeleton in enumerate(msg.skeletons):
        c = centroid[index]
        person = Skeleton3D(tracking_id=skeleton.tracking_id, score=skeleton.score,
                            centroid=Point(x=c[0], y=c[1], z=c[2]),
                            centroid_valid=bool(result.centroid_valid[index]),
                            edge_ids=list(skeleton.edge_ids))
        person.keypoints = [
            Keypoint3D(part_id=k.part_id, label=k.label, confidence=k.confidence,
                       valid=valid[index][k.part_id],
                       position=Point(x=xyz[index][k.part_id][0], y=xyz[index][k.part_id][1],
                                      z=xyz[index][k.part_id][2]))
            for k in skeleton.keypoints]
        skeletons.append(person)
    out.skeletons = skeletons
    return out


def lift_skeleton_array(msg: Skeleton2DArray, depth: Image, camera_info: CameraInfo,
                        params: DepthParams, rectified: bool = False) -> Skeleton3DArray:
    """A Skeleton2DArray and its depth image and CameraInfo -> Skeleton3DArray (the
    node's and the offline tool's one path); ValueError when depth or CameraInfo are
    unusable."""
    xy, _ = skeleton_keypoints(msg)
    result = lift_keypoints(xy, depth_msg_to_metres(depth),
                            camera_model_from_msg(camera_info, rectified), params)
    return skeleton_3d_array_msg(msg, result)


def marker_array_3d_msg(msg: Skeleton3DArray, *, joint_diameter: float, line_width: float,
                        lifetime: float, namespace: str = 'skeleton_3d') -> MarkerArray:
    """RViz markers of 3D skeletons in the camera's optical frame (the header's).

    The layout of :func:`marker_array_msg` at the metric positions (DELETEALL; every
    valid joint in ``<namespace>/joints``, the limbs whose two parts are valid in
    ``<namespace>/limbs``; ``#id`` labels at tracked people's centroids, in
    ``<namespace>/ids``). Invalid parts are not drawn.
    """
    edges = list(zip(msg.edges[0::2], msg.edges[1::2]))
    drawn = [({k.part_id: k.position for k in person.keypoints if k.valid},
              list(person.edge_ids), int(person.tracking_id), person.centroid)
             for person in msg.skeletons]
    return _skeleton_markers(msg.header, drawn, edges, len(msg.labels),
                             joint_diameter=joint_diameter, line_width=line_width,
                             lifetime=lifetime, namespace=namespace)
