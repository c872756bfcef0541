"""The synthetic maps of the tests live in the package (the benchmark uses them too)."""
from pose_estimation_ros.core.synthetic_pose import *  # noqa: F401,F403
