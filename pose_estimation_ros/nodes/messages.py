"""Conversions between ROS messages and the pure core's numpy types.

The only place where messages are built or read: the nodes, the single-process runner
and the offline bag tool all go through these functions.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from pose_estimation_ros.core import drawing
from pose_estimation_ros.core.encoder import check_image_fields, decode_compressed, image_to_array
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import Person
from pose_estimation_ros.core.tensors import fill_tensor, tensor_to_array, to_byte_array
from pose_estimation_ros.msg import (ImageGeometry as ImageGeometryMsg, Keypoint2D, Skeleton2D,
                                     Skeleton2DArray, Tensor, TensorList)

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
# Marker id of a person's limbs (its joints use their part ids, which are smaller).
LIMBS_MARKER_ID = 1000
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
def skeleton_array_msg(header: Header, people: Sequence[Person], labels: Sequence[str],
                       edges: Sequence[tuple[int, int]]) -> Skeleton2DArray:
    msg = Skeleton2DArray(header=header, labels=list(labels))
    msg.edges = [int(v) for pair in edges for v in pair]
    skeletons = []
    for person in people:
        x_min, y_min, x_max, y_max = (float(v) for v in person.bbox)
        skeleton = Skeleton2D(score=float(person.score), x_min=x_min, y_min=y_min,
                              x_max=x_max, y_max=y_max)
        # A person has at most a few dozen parts: one small object each.
        skeleton.keypoints = [
            Keypoint2D(part_id=int(part), label=labels[int(part)], x=float(x), y=float(y),
                       confidence=float(c))
            for part, x, y, c in person.keypoints.tolist()]
        skeleton.edge_ids = [int(e) for e in person.edge_ids]
        skeletons.append(skeleton)
    msg.skeletons = skeletons
    return msg


def _rgba(color: Sequence[int], alpha: float = 1.0) -> ColorRGBA:
    b, g, r = color  # drawing palettes are BGR (OpenCV)
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


def marker_array_msg(header: Header, people: Sequence[Person],
                     edges: Sequence[tuple[int, int]], *, pixel_size: float,
                     joint_diameter: float, line_width: float, lifetime: float,
                     namespace: str = 'skeleton') -> MarkerArray:
    """RViz markers of the skeletons, in the image's frame.

    Image pixels are placed on the frame's z = 0 plane scaled by ``pixel_size`` metres,
    x right and y down as in the image (an optical frame, REP-103). Each person gets its
    own namespace ``<namespace>/<index>`` (index in score order) with stable ids: one
    SPHERE per part (id = part id, coloured per part type) and one LINE_LIST of its
    limbs (id ``LIMBS_MARKER_ID``, coloured per limb type). The first marker is
    DELETEALL, so people and parts gone since the last frame disappear.
    """
    markers = [Marker(header=header, action=Marker.DELETEALL, ns=namespace)]
    life = Duration(sec=int(lifetime), nanosec=int((lifetime % 1) * 1e9))
    part_colors = [_rgba(c) for c in drawing.part_colors(
        max((int(p) for e in edges for p in e), default=0) + 1)]
    limb_colors = [_rgba(c) for c in drawing.limb_colors(len(edges))]
    for index, person in enumerate(people):
        ns = f'{namespace}/{index}'
        points = {int(part): Point(x=x * pixel_size, y=y * pixel_size, z=0.0)
                  for part, x, y in zip(person.part_ids.tolist(), person.xy[:, 0].tolist(),
                                        person.xy[:, 1].tolist())}
        for part, point in points.items():
            joint = Marker(header=header, ns=ns, id=part, type=Marker.SPHERE,
                           action=Marker.ADD, lifetime=life, color=part_colors[part])
            joint.pose.position = point
            joint.pose.orientation.w = 1.0
            joint.scale.x = joint.scale.y = joint.scale.z = joint_diameter
            markers.append(joint)
        limbs = Marker(header=header, ns=ns, id=LIMBS_MARKER_ID, type=Marker.LINE_LIST,
                       action=Marker.ADD, lifetime=life)
        limbs.pose.orientation.w = 1.0
        limbs.scale.x = line_width
        for edge in person.edge_ids.tolist():
            a, b = edges[edge]
            limbs.points += [points[a], points[b]]
            limbs.colors += [limb_colors[edge], limb_colors[edge]]
        markers.append(limbs)
    return MarkerArray(markers=markers)


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
