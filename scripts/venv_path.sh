# shellcheck shell=bash disable=SC2034
# Which ROS 2 distribution the scripts set up and use, and where (sourced; sets
# $ros_distro, $venv, $requirements and $space_suffix). $ROS_DISTRO chooses: kilted (the
# default, also when unset) or jazzy. Each distribution has its own virtual environment,
# requirements file and colcon build/install spaces, so both coexist in one checkout:
#   kilted: ~/.cache/pose_estimation_ros/venv        requirements.txt        build/ install/
#   jazzy:  ~/.cache/pose_estimation_ros/venv-jazzy  requirements-jazzy.txt  build-jazzy/ install-jazzy/
# $POSE_ESTIMATION_ROS_VENV overrides the venv path of the chosen distribution (setup.sh
# refuses a venv made for another one). The venv is outside the checkout because CMake
# rejects exported include directories inside the source tree.
ros_distro=${ROS_DISTRO:-kilted}
case $ros_distro in
  kilted) space_suffix= ;;
  jazzy) space_suffix=-jazzy ;;
  *)
    echo "pose_estimation_ros: ROS_DISTRO=$ros_distro is not set up by these scripts" \
      "(kilted or jazzy; on a robot with ROS from apt see README \"Install on a robot\")" >&2
    return 1 ;;
esac
# scripts/env.sh prepends library and prefix paths and never removes them: on top of the
# other distribution's environment (sourced in this shell) both would mix.
if [ -n "${_POSE_ESTIMATION_ROS_DISTRO:-}" ] && [ "$_POSE_ESTIMATION_ROS_DISTRO" != "$ros_distro" ]; then
  echo "pose_estimation_ros: this shell has ROS 2 $_POSE_ESTIMATION_ROS_DISTRO's environment" \
    "(scripts/env.sh); use a new shell for $ros_distro" >&2
  return 1
fi
venv=${POSE_ESTIMATION_ROS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pose_estimation_ros/venv$space_suffix}
requirements=requirements$space_suffix.txt
