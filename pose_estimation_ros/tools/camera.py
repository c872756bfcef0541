"""A camera driver in its own process: the separate-process graph tests and the
benchmark feed the pipeline with it.

Publishes the images of a folder (``--images``, resized to ``--size``) as
sensor_msgs/Image or JPEG sensor_msgs/CompressedImage, with the QoS a driver chooses
(reliable depth 10, like usb_cam and ros2 bag play with recorded reliable topics, or the
sensor_data profile), at ``--rate`` Hz. It uses the middleware's defaults, not this
package's DDS profile: a camera driver's own settings are not ours to choose. Each
frame's stamp is the wall-clock time it is published, so latency = arrival - stamp.
It prints one JSON line at the end: the stamps (nanoseconds) it sent.

    python -m pose_estimation_ros.tools.camera --images ../shared/data/posetrack_bonn/images \\
        --topic /camera/image_raw --size 640x480 --qos best_effort --format raw --rate 4 \\
        --frames 20
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import rclpy
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from pose_estimation_ros.core.tensors import to_byte_array

QOS = {'reliable': QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE),
       'best_effort': qos_profile_sensor_data}


def frames(folder: Path, size: tuple[int, int], encoding: str, image_format: str,
           count: int) -> list:
    """Up to ``count`` distinct frames as uint8 arrays, made before the timing starts."""
    made = []
    paths = sorted(p for p in Path(folder).iterdir()
                   if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))[:count]
    if not paths:
        raise SystemExit(f'camera: no .jpg/.png images in {folder}')
    for path in paths:
        image = cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA)
        if image_format == 'jpeg':
            made.append(cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1])
        else:
            if encoding == 'rgb8':
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            made.append(image)
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', required=True, type=Path,
                        help='folder of .jpg/.png frames, published in name order, looped')
    parser.add_argument('--topic', default='/camera/image_raw')
    parser.add_argument('--size', default='640x480', help='WIDTHxHEIGHT')
    parser.add_argument('--qos', choices=sorted(QOS), default='reliable')
    parser.add_argument('--format', choices=('raw', 'jpeg'), default='raw')
    parser.add_argument('--encoding', choices=('bgr8', 'rgb8'), default='bgr8')
    parser.add_argument('--rate', type=float, default=4.0)
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--subscribers', type=int, default=1,
                        help='wait for this many matched subscriptions before sending')
    parser.add_argument('--frame-id', default='camera_optical_frame')
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split('x'))
    data = frames(args.images, (width, height), args.encoding, args.format, args.frames)

    rclpy.init()
    node = rclpy.create_node('camera_driver')
    compressed = args.format == 'jpeg'
    topic = args.topic + '/compressed' if compressed else args.topic
    publisher = node.create_publisher(CompressedImage if compressed else Image, topic,
                                      QOS[args.qos])
    deadline = time.monotonic() + 30.0
    while publisher.get_subscription_count() < args.subscribers:
        if time.monotonic() > deadline:
            print(json.dumps({'error': f'no subscriber on {topic} after 30 s'}), flush=True)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    sent = []
    period = 1.0 / args.rate
    start = time.monotonic()
    for index in range(args.frames):
        # A fixed schedule: a late frame does not shift the ones after it.
        delay = start + index * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stamp = time.time_ns()
        msg = CompressedImage(format='jpeg') if compressed else Image(
            height=height, width=width, encoding=args.encoding, step=width * 3)
        msg.header.frame_id = args.frame_id
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        msg.data = to_byte_array(data[index % len(data)])
        publisher.publish(msg)
        sent.append(stamp)
    # Reliable: stay until the last frames are acknowledged, as a running driver would.
    publisher.wait_for_all_acked(Duration(seconds=2.0))
    time.sleep(0.5)
    print(json.dumps({'sent': sent}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
