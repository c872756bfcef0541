#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite. Extra arguments go to
# pytest, e.g. scripts/test.sh -k decoder -x; test files or test ids among them run
# instead of the whole suite, e.g. scripts/test.sh test/test_nodes.py.
# ROS_DISTRO=jazzy scripts/test.sh ... does the same on ROS 2 Jazzy (scripts/venv_path.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"
# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh"
# Own DDS domain per run so parallel runs on one machine do not cross-talk; discovery
# stays on this machine.
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( RANDOM % 100 + 1 ))}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
cd "$repo"
# pytest collects "test" as well as any test file named after it: the whole suite only
# when no argument names a test path (test/x.py or test/x.py::case).
targets=(test)
for arg in "$@"; do
  if [ -e "${arg%%::*}" ]; then targets=(); break; fi
done
exec python -m pytest "${targets[@]}" "$@"
