"""Build a rosbag2 of camera images from an image folder or a video (recorded input for
replay tests, the demo and ``process_bag``).

Usage::

    python -m pose_estimation_ros.tools.make_bag INPUT OUTPUT_BAG [--topic /camera/image_raw]
        [--fps 25] [--frame-id camera_optical_frame] [--storage mcap|sqlite3]
        [--compressed] [--max-frames N]

Messages are sensor_msgs/msg/Image (bgr8), or sensor_msgs/msg/CompressedImage (JPEG)
with ``--compressed``, stamped (and logged) at 1/fps from a fixed epoch. INPUT ``sample``
is the posetrack_bonn frames of ``../shared/data`` beside the checkout when present,
else scikit-image's astronaut picture repeated for a few frames.

An RGB-D folder INPUT (``color.png``, ``depth_mm.png``, ``camera_info.yaml``, e.g.
``../shared/data/rgbd_five_people``) gives an RGB-D bag: ``/camera/color/image_raw``
(bgr8), ``/camera/aligned_depth_to_color/image_raw`` (16UC1 mm) and
``/camera/color/camera_info``, the same stamp on all three, the frame written
``--repeat`` times (``--topic`` and ``--compressed`` do not apply)::

    python -m pose_estimation_ros.tools.make_bag ../shared/data/rgbd_five_people rgbd_bag
    python -m pose_estimation_ros.tools.process_bag rgbd_bag \
        --topic /camera/color/image_raw --depth-topic /camera/aligned_depth_to_color/image_raw
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, Sequence

import cv2
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

from pose_estimation_ros.core.drawing import to_bgr8
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.tools import rgbd
from pose_estimation_ros.tools.process_bag import (DEFAULT_FPS, DEFAULT_FRAME_ID, Frame,
                                                   ImageSource, InputError, open_bag_writer,
                                                   stamp_header, stamp_ns)

SAMPLE = 'sample'
SAMPLE_FOLDER = Path('shared', 'data', 'posetrack_bonn', 'images')
ASTRONAUT_FRAMES = 8
JPEG_QUALITY = 90


def sample_folder() -> Path | None:
    """posetrack_bonn images of ``shared/data`` beside the checkout: looked for next to
    each directory above this module (the checkout or its install space) and above the
    working directory."""
    here, cwd = Path(__file__).resolve(), Path.cwd().resolve()
    for root in (*here.parents, cwd, *cwd.parents):
        if (root / SAMPLE_FOLDER).is_dir():
            return root / SAMPLE_FOLDER
    return None


def astronaut_frames(fps: float, frame_id: str) -> Iterator[Frame]:
    """scikit-image's bundled astronaut (one person), a few identical frames."""
    from skimage import data

    image = data.astronaut()[:, :, ::-1].copy()  # RGB -> BGR
    for index in range(ASTRONAUT_FRAMES):
        header = stamp_header(index, fps, frame_id)
        yield Frame(header, image, 'bgr8', stamp_ns(header))


def make_rgbd_bag(folder: str | Path, output_bag: Path, *, fps: float, frame_id: str,
                  storage: str, repeat: int) -> int:
    """The RGB-D bag of a folder's frame, ``repeat`` times; returns the frames written."""
    try:
        color, depth, info = rgbd.read_rgbd_folder(folder)
    except ValueError as error:
        raise InputError(str(error)) from error
    if repeat < 1:
        raise InputError(f'--repeat must be at least 1, got {repeat}')
    topics = {rgbd.COLOR_TOPIC: 'sensor_msgs/msg/Image', rgbd.DEPTH_TOPIC: rgbd.DEPTH_TYPE,
              rgbd.CAMERA_INFO_TOPIC: rgbd.CAMERA_INFO_TYPE}
    writer, connections = open_bag_writer(output_bag, storage, topics)
    try:
        for index in range(repeat):
            header = stamp_header(index, fps, frame_id)
            try:
                info_msg = messages.camera_info_from_yaml(info, header)
            except ValueError as error:
                raise InputError(f'{folder}/camera_info.yaml: {error}') from error
            # The driver's order: camera_info and depth with the colour image's stamp.
            for topic, msg in ((rgbd.CAMERA_INFO_TOPIC, info_msg),
                               (rgbd.COLOR_TOPIC, messages.array_to_image_msg(color, 'bgr8',
                                                                              header)),
                               (rgbd.DEPTH_TOPIC, messages.array_to_image_msg(depth, '16UC1',
                                                                              header))):
                writer.write(connections[topic], stamp_ns(header), serialize_message(msg))
    finally:
        writer.close()
    return repeat


def make_bag(input_path: str, output_bag: str | Path, *, topic: str = '/camera/image_raw',
             fps: float = DEFAULT_FPS, frame_id: str = DEFAULT_FRAME_ID,
             storage: str = 'mcap', compressed: bool = False,
             max_frames: int | None = None, repeat: int = 1) -> int:
    """Write the bag; returns the number of images written."""
    if not fps > 0:
        raise InputError(f'--fps must be positive, got {fps}')
    output_bag = Path(output_bag)
    if output_bag.exists():
        raise InputError(f'{output_bag} exists; remove it or choose another OUTPUT_BAG')
    if input_path != SAMPLE and rgbd.is_rgbd_folder(input_path):
        return make_rgbd_bag(input_path, output_bag, fps=fps, frame_id=frame_id,
                             storage=storage, repeat=repeat)
    if input_path == SAMPLE:
        folder = sample_folder()
        frames = (ImageSource(folder, fps=fps, frame_id=frame_id) if folder else
                  astronaut_frames(fps, frame_id))
    else:
        frames = ImageSource(input_path, fps=fps, frame_id=frame_id)
    msgtype = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    writer, connections = open_bag_writer(output_bag, storage, {topic: msgtype})
    count = 0
    try:
        for index, frame in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            # Every input is restamped at 1/fps (bags too), so the output is regular.
            header = stamp_header(index, fps, frame_id)
            image = to_bgr8(frame.image, frame.encoding)
            if compressed:
                ok, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    raise InputError(f'cannot JPEG-encode frame {index}')
                # image_transport's "compressed" format string.
                msg = CompressedImage(header=header, format='bgr8; jpeg compressed bgr8',
                                      data=jpeg.tobytes())
            else:
                msg = messages.array_to_image_msg(image, 'bgr8', header)
            writer.write(connections[topic], stamp_ns(header), serialize_message(msg))
            count += 1
    finally:
        writer.close()
    if count == 0:
        raise InputError(f'no images in {input_path}')
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='make_bag', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('input', help='image folder, video file, rosbag2, or "sample"')
    parser.add_argument('output_bag', help='rosbag2 directory to create')
    parser.add_argument('--topic', default='/camera/image_raw', help='image topic')
    parser.add_argument('--fps', type=float, default=DEFAULT_FPS, help='stamp rate')
    parser.add_argument('--frame-id', default=DEFAULT_FRAME_ID, help='header frame_id')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='rosbag2 storage')
    parser.add_argument('--compressed', action='store_true',
                        help='sensor_msgs/CompressedImage (JPEG) instead of Image (bgr8)')
    parser.add_argument('--max-frames', type=int, help='write at most N images')
    parser.add_argument('--repeat', type=int, default=1,
                        help='RGB-D folder: how many times to write its frame')
    args = parser.parse_args(argv)
    try:
        count = make_bag(args.input, args.output_bag, topic=args.topic, fps=args.fps,
                         frame_id=args.frame_id, storage=args.storage,
                         compressed=args.compressed, max_frames=args.max_frames,
                         repeat=args.repeat)
    except (InputError, ValueError, RuntimeError) as error:
        print('make_bag: error: ' + ' '.join(str(error).split()), file=sys.stderr)
        return 2
    if rgbd.is_rgbd_folder(args.input):
        print(f'make_bag: wrote {count} RGB-D frames ({rgbd.COLOR_TOPIC}, {rgbd.DEPTH_TOPIC}, '
              f'{rgbd.CAMERA_INFO_TOPIC}) to {args.output_bag} ({args.storage})')
        return 0
    kind = 'CompressedImage' if args.compressed else 'Image'
    print(f'make_bag: wrote {count} {kind} messages on {args.topic} to {args.output_bag} '
          f'({args.storage})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
