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


def make_bag(input_path: str, output_bag: str | Path, *, topic: str = '/camera/image_raw',
             fps: float = DEFAULT_FPS, frame_id: str = DEFAULT_FRAME_ID,
             storage: str = 'mcap', compressed: bool = False,
             max_frames: int | None = None) -> int:
    """Write the bag; returns the number of images written."""
    if not fps > 0:
        raise InputError(f'--fps must be positive, got {fps}')
    output_bag = Path(output_bag)
    if output_bag.exists():
        raise InputError(f'{output_bag} exists; remove it or choose another OUTPUT_BAG')
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
    args = parser.parse_args(argv)
    try:
        count = make_bag(args.input, args.output_bag, topic=args.topic, fps=args.fps,
                         frame_id=args.frame_id, storage=args.storage,
                         compressed=args.compressed, max_frames=args.max_frames)
    except (InputError, ValueError, RuntimeError) as error:
        print('make_bag: error: ' + ' '.join(str(error).split()), file=sys.stderr)
        return 2
    kind = 'CompressedImage' if args.compressed else 'Image'
    print(f'make_bag: wrote {count} {kind} messages on {args.topic} to {args.output_bag} '
          f'({args.storage})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
