"""process_bag on damaged input bags and unwritable or full output: one error line, exit
status 2, and never a half-written output under its final name (outputs are written as
``*.partial*`` and renamed when the run completes; after an error the partial bag holds
the frames written so far and is a valid bag).

Real rosbag2 files (mcap and sqlite3, written with rosbags) damaged on purpose.
"""
from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from conftest import require_model, shipped_params
from pose_estimation_ros.msg import Skeleton2DArray
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.tools import process_bag
from test_process_bag import FRAMES, STORAGES, read_topic, run_error, stamp_ns, write_bag

TOPIC = '/camera/image_raw'
COUNT = 6


def _frames(count: int = COUNT):
    """(log time, Image) of posetrack frames at half size (fast to process)."""
    items = []
    for i in range(count):
        header = Header(stamp=Time(sec=100 + i), frame_id='cam')
        pixels = np.ascontiguousarray(cv2.imread(str(FRAMES[i % len(FRAMES)]))[::2, ::2])
        items.append((stamp_ns(100 + i, 0), messages.array_to_image_msg(pixels, 'bgr8', header)))
    return items


@pytest.fixture(params=sorted(STORAGES))
def bag(request, tmp_path):
    require_model()
    path = tmp_path / f'input_{request.param}'
    write_bag(path, request.param, {TOPIC: 'sensor_msgs/msg/Image'}, {TOPIC: _frames()})
    return path


def _storage_file(bag):
    return next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))


def _outputs(out) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def _assert_valid_partial_bag(out, frames: int) -> None:
    """Nothing under a final name; the partial bag reads back with ``frames`` frames."""
    names = _outputs(out)
    assert 'skeletons_bag' not in names and 'summary.json' not in names, names
    assert not any(name in names for name in ('keypoints.json', 'frames.json',
                                               'annotated.mp4')), names
    partial = out / 'skeletons_bag.partial'
    skeletons = read_topic(partial, '/skeletons', Skeleton2DArray)
    assert [msg.header.stamp.sec for _, msg in skeletons] == list(range(100, 100 + frames))
    table = json.loads((out / 'frames.partial.json').read_text())
    assert table['complete'] is False and len(table['images']) == frames


def test_complete_run_renames_every_output_and_leaves_no_partial(bag, tmp_path, capsys):
    out = tmp_path / 'out'
    # A previous failed run's partial outputs are cleared.
    (out / 'skeletons_bag.partial').mkdir(parents=True)
    (out / 'frames.partial.json').write_text('{}')
    assert process_bag.main([str(bag), '--output-dir', str(out), '--no-progress',
                             '--max-frames', '2']) == 0
    names = _outputs(out)
    assert not [name for name in names if '.partial' in name], names
    assert {'skeletons_bag', 'summary.json', 'frames.json', 'keypoints.json'} <= set(names)
    assert len(read_topic(out / 'skeletons_bag', '/skeletons', Skeleton2DArray)) == 2
    assert json.loads((out / 'frames.json').read_text())['complete'] is True


def test_bad_frame_mid_run_keeps_the_frames_before_it_in_a_valid_partial_bag(tmp_path,
                                                                            capsys):
    require_model()
    depth = Image(header=Header(stamp=Time(sec=100 + COUNT), frame_id='cam'), height=2,
                  width=2, encoding='32FC1', step=8, data=bytes(16))
    bag = tmp_path / 'bad_frame'
    write_bag(bag, 'mcap', {TOPIC: 'sensor_msgs/msg/Image'},
              {TOPIC: _frames() + [(stamp_ns(100 + COUNT, 0), depth)]})
    out = tmp_path / 'out'
    err = run_error(capsys, bag, '--output-dir', out)
    assert f'message {COUNT}' in err and '32FC1' in err
    assert 'skeletons_bag.partial (a valid bag)' in err
    _assert_valid_partial_bag(out, COUNT)


def test_truncated_input_bag_is_refused_at_open(bag, tmp_path, capsys):
    file = _storage_file(bag)
    file.write_bytes(file.read_bytes()[:file.stat().st_size * 6 // 10])
    out = tmp_path / 'out'
    err = run_error(capsys, bag, '--output-dir', out)
    assert f'cannot read bag {bag}' in err
    assert not out.exists()


def test_corrupt_input_bag_stops_at_the_damaged_message(bag, tmp_path, capsys):
    """Random bytes over the middle of the file (messages 3 and on; the index at the
    end stays): the frames before are processed and kept."""
    file = _storage_file(bag)
    data = bytearray(file.read_bytes())
    start = len(data) * 6 // 10
    data[start:start + 200_000] = np.random.default_rng(0).integers(
        0, 256, 200_000, dtype=np.uint8).tobytes()
    file.write_bytes(bytes(data))
    out = tmp_path / 'out'
    err = run_error(capsys, bag, '--output-dir', out, '--no-video')
    assert f'{TOPIC} of bag {bag}' in err and 'truncated or corrupt' in err, err
    # Either the reader fails at a message, or it stops early (mcap) and the count
    # recorded in the bag tells.
    reached = int(err.split('cannot read message ')[1].split()[0]
                  if 'cannot read message' in err else err.split('ended after ')[1].split()[0])
    assert 0 < reached < COUNT
    _assert_valid_partial_bag(out, reached)


def test_missing_topic(bag, tmp_path, capsys):
    err = run_error(capsys, bag, '--topic', '/front/image_raw', '--output-dir', tmp_path / 'o')
    assert '/front/image_raw is not in bag' in err and TOPIC in err
    assert not (tmp_path / 'o').exists()


def test_unwritable_output_directory(bag, tmp_path, capsys):
    """An output path below a regular file cannot be created, even by root (who
    ignores permission bits, so a chmod would not test anything here)."""
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a directory')
    err = run_error(capsys, bag, '--output-dir', blocker / 'out')
    assert f'cannot write to the output directory {blocker / "out"}' in err, err


@pytest.mark.parametrize('storage', sorted(STORAGES))
def test_disk_full_leaves_nothing_under_a_final_name(bag, tmp_path, storage):
    """The tool in a process whose files may not grow past 30 kB (RLIMIT_FSIZE: writes
    past it fail as on a full disk, EFBIG instead of ENOSPC)."""
    out = tmp_path / 'out'

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    result = subprocess.run(
        [sys.executable, '-m', 'pose_estimation_ros.tools.process_bag', str(bag),
         '--output-dir', str(out), '--output-storage', storage, '--no-progress'],
        preexec_fn=small_disk, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('process_bag: error: ') and 'disk full or not writable' in last, \
        result.stderr
    assert 'Traceback' not in result.stderr
    names = _outputs(out)
    assert 'skeletons_bag' not in names and 'summary.json' not in names, names
    assert 'skeletons_bag.partial' in names
    shutil.rmtree(out)


@pytest.mark.parametrize('key, value, message', [
    ('edges_paf', list(range(20, 58)), 'edges_paf addresses channel 57, past the 57 channels'),
    ('heatmap_channels', [0, 60], 'heatmap_channels [0, 60] address channels past the 57'),
])
def test_decoder_channels_past_the_model_outputs_stop_before_processing(
        bag, tmp_path, capsys, key, value, message):
    """Offline the model is known at start-up: channels past its outputs are a
    configuration error before any frame (the nodes can only tell per message)."""
    params = shipped_params()
    params['openpose_decoder']['ros__parameters'][key] = value
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    out = tmp_path / 'out'
    err = run_error(capsys, bag, '--params', params_file, '--output-dir', out)
    assert message in err, err
    assert not out.exists()
