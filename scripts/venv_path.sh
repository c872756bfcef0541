# Where scripts/setup.sh keeps the virtual environment (sourced; sets $venv). Outside the
# checkout because CMake rejects exported include directories inside the source tree.
venv=${POSE_ESTIMATION_ROS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pose_estimation_ros/venv}
