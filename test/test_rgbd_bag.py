"""The offline tools on an RGB-D rosbag2 made from the real Kinect frame
(../shared/data/rgbd_five_people): make_bag writes colour, depth and CameraInfo;
process_bag writes /skeletons_3d and /skeleton_markers_3d for every frame with a depth
image of its stamp, counts the others, and puts each person where their silhouette is."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from conftest import DATA, PARAMS_FILE, require_model
from depth_scene import WALL_DEPTH, silhouette_depth
from pose_estimation_ros.core.depth import depth_array_to_metres
from pose_estimation_ros.msg import Skeleton2DArray, Skeleton3DArray
from pose_estimation_ros.tools import make_bag, process_bag, rgbd
from test_process_bag import read_topic

RGBD = DATA / 'rgbd_five_people'


def test_make_bag_rgbd_folder(tmp_path):
    bag = tmp_path / 'rgbd'
    assert make_bag.main([str(RGBD), str(bag), '--repeat', '2', '--fps', '10']) == 0
    colour = read_topic(bag, rgbd.COLOR_TOPIC, Image)
    depth = read_topic(bag, rgbd.DEPTH_TOPIC, Image)
    infos = read_topic(bag, rgbd.CAMERA_INFO_TOPIC, CameraInfo)
    assert len(colour) == len(depth) == len(infos) == 2
    for (_, c), (_, d), (_, i) in zip(colour, depth, infos):
        assert c.header == d.header == i.header
    assert colour[1][1].header.stamp.nanosec == 100_000_000
    assert (depth[0][1].encoding, depth[0][1].width, depth[0][1].height) == ('16UC1', 640, 480)
    _, depth_mm, _ = rgbd.read_rgbd_folder(RGBD)
    assert bytes(depth[0][1].data) == depth_mm.tobytes()
    assert list(infos[0][1].k) == [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    assert infos[0][1].distortion_model == 'plumb_bob'


@pytest.fixture(scope='module')
def rgbd_bag(tmp_path_factory):
    """Three colour frames of the real RGB-D frame; depth and CameraInfo for the first
    and the last only (the second is unmatched)."""
    source = tmp_path_factory.mktemp('rgbd') / 'source'
    assert make_bag.main([str(RGBD), str(source), '--repeat', '3']) == 0
    bag = source.parent / 'gap'
    store = get_typestore(Stores.ROS2_KILTED)
    with Reader(source) as reader, Writer(bag, version=8) as writer:
        connections = {c.topic: writer.add_connection(c.topic, c.msgtype, typestore=store)
                       for c in reader.connections}
        for connection, log_ns, data in reader.messages():
            second = log_ns == process_bag.EPOCH_NS + round(1e9 / process_bag.DEFAULT_FPS)
            if second and connection.topic != rgbd.COLOR_TOPIC:
                continue
            writer.write(connections[connection.topic], log_ns, data)
    return bag


def test_process_rgbd_bag_gives_3d_skeletons(rgbd_bag, tmp_path, capsys):
    require_model()
    out = tmp_path / 'out'
    assert process_bag.main([str(rgbd_bag), '--depth-topic', rgbd.DEPTH_TOPIC,
                             '--output-dir', str(out), '--params', str(PARAMS_FILE),
                             '--no-progress', '--no-video']) == 0
    printed = capsys.readouterr().out
    assert '3D skeletons:    2 frames (1 without depth' in printed
    flat = read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)
    lifted = read_topic(out / 'skeletons_bag', '/skeletons_3d', Skeleton3DArray)
    markers = read_topic(out / 'skeletons_bag', '/skeleton_markers_3d', MarkerArray)
    assert len(flat) == 3 and len(lifted) == len(markers) == 2
    # The paired frames, with the colour images' headers and log times.
    assert [t for t, _ in lifted] == [flat[0][0], flat[2][0]]
    assert [m.header for _, m in lifted] == [flat[0][1].header, flat[2][1].header]
    assert markers[0][1].markers[0].action == Marker.DELETEALL

    _, depth_mm, _ = rgbd.read_rgbd_folder(RGBD)
    depth_m = depth_array_to_metres(depth_mm)
    skeletons_2d, skeletons_3d = flat[0][1].skeletons, lifted[0][1].skeletons
    assert len(skeletons_3d) == len(skeletons_2d) >= 4
    for person_2d, person in zip(skeletons_2d, skeletons_3d):
        reference = silhouette_depth(depth_m, [(k.x, k.y) for k in person_2d.keypoints])
        assert person.centroid_valid and abs(person.centroid.z - reference) <= 0.15
        assert all(k.position.z < WALL_DEPTH for k in person.keypoints if k.valid)
        assert [k.part_id for k in person.keypoints] == [k.part_id for k in person_2d.keypoints]

    summary = json.loads((out / 'summary.json').read_text())
    counts = summary['outputs']['skeletons_3d']
    assert (counts['frames'], counts['unmatched']) == (2, 1)
    assert 0 < counts['valid_keypoints'] < counts['keypoints']  # some flagged invalid
    frames = json.loads((out / 'frames.json').read_text())['images']
    assert frames[1]['centroids_3d'] is None
    centroids = np.array(frames[0]['centroids_3d'])
    np.testing.assert_allclose(centroids[:, 2], [p.centroid.z for p in skeletons_3d])


def test_rgbd_bag_errors(rgbd_bag, tmp_path, capsys):
    def error(*argv) -> str:
        assert process_bag.main([*map(str, argv), '--no-progress']) == 2
        return capsys.readouterr().err

    assert 'is not a sensor_msgs/msg/Image topic' in error(
        rgbd_bag, '--topic', rgbd.COLOR_TOPIC, '--depth-topic', '/camera/depth/missing',
        '--output-dir', tmp_path / 'a')
    assert 'camera_info topic /nope is not a' in error(
        rgbd_bag, '--depth-topic', rgbd.DEPTH_TOPIC, '--camera-info-topic', '/nope',
        '--output-dir', tmp_path / 'b')
    assert '--camera-info-topic needs --depth-topic' in error(
        rgbd_bag, '--camera-info-topic', rgbd.CAMERA_INFO_TOPIC, '--output-dir', tmp_path / 'c')
    # Without --depth-topic the bag has two image topics: the tool asks for one.
    assert 'several image topics' in error(rgbd_bag, '--output-dir', tmp_path / 'd')
