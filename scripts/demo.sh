#!/usr/bin/env bash
# The demo: multi-person 2D pose estimation of a recorded camera stream, offline, as
# fast as this machine allows (process_bag runs encoder -> inference -> decoder in one
# process, exactly as the nodes do), with the default model: human-pose-estimation-0001 on
# OpenVINO when scripts/setup.sh installed it from ../shared/models, else mobilenet_thin
# (process_bag prints which and why).
#
# Usage: scripts/demo.sh            builds output/demo/input_bag (sensor_msgs/Image) from
#                                   the sample frames (../shared/data/posetrack_bonn beside
#                                   the checkout, else scikit-image's astronaut) and
#                                   processes it
#        scripts/demo.sh INPUT [process_bag options]
#                                   processes INPUT instead: a rosbag2 (directory, .mcap or
#                                   .db3), a video file or an image folder
# Results go to output/demo/: annotated.mp4, keypoints.json (COCO), skeletons_bag/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/output/demo"
input=
if [ $# -gt 0 ]; then
  [ -e "$1" ] || { echo "demo: input not found: $1" >&2; exit 2; }
  input=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  shift
fi

"$repo/scripts/setup.sh"
# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh"
mkdir -p "$out"

if [ -z "$input" ]; then
  input="$out/input_bag"
  rm -rf "$input"
  python -m pose_estimation_ros.tools.make_bag sample "$input"
fi

python -m pose_estimation_ros.tools.process_bag "$input" --output-dir "$out" "$@"
