# shellcheck shell=bash
# Source this file (bash) to use the package from this checkout after scripts/setup.sh:
#   source scripts/env.sh                     (ROS 2 Kilted)
#   ROS_DISTRO=jazzy source scripts/env.sh    (ROS 2 Jazzy, after ROS_DISTRO=jazzy scripts/setup.sh)
# It activates the distribution's virtual environment (scripts/venv_path.sh), exports
# ROS_DISTRO and what the ROS 2 PyPI wheels and colcon's install space (install/ or
# install-jazzy/) need, and keeps DDS discovery on this machine.
_pe_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/venv_path.sh
source "$_pe_repo/scripts/venv_path.sh" || return 1
# Marks this environment's distribution (venv_path.sh refuses another one on top).
export _POSE_ESTIMATION_ROS_DISTRO=$ros_distro
export ROS_DISTRO=$ros_distro
_pe_venv=$venv
# shellcheck disable=SC1091
source "$_pe_venv/bin/activate"
_pe_site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)
# What the wheels' ros_wheels_bootstrapper would set by re-executing every Python
# process: exporting it here saves that re-exec.
_pe_ld="$_pe_venv/lib"
for _pe_d in "$_pe_site"/ros_*.libs; do [ -d "$_pe_d" ] && _pe_ld="$_pe_ld:$_pe_d"; done
export LD_LIBRARY_PATH="$_pe_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export AMENT_PREFIX_PATH="$_pe_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_pe_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
if [ "${1:-}" != "--no-install-space" ]; then
  if [ -f "$_pe_repo/install$space_suffix/local_setup.bash" ]; then
    # colcon's script reads unset variables: allow that even under `set -u`.
    case $- in *u*) _pe_nounset=1 ;; *) _pe_nounset= ;; esac
    set +u
    # shellcheck disable=SC1090,SC1091
    source "$_pe_repo/install$space_suffix/local_setup.bash"
    if [ -n "$_pe_nounset" ]; then set -u; fi
  else
    echo "pose_estimation_ros: no install space install$space_suffix/ yet; run" \
      "${space_suffix:+ROS_DISTRO=$ros_distro }scripts/setup.sh" >&2
  fi
fi
unset venv ros_distro space_suffix requirements _pe_repo _pe_venv _pe_site _pe_ld _pe_d _pe_nounset
