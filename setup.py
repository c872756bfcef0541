"""`pip install .`: the pure-Python core (decoder, encoder, inference backends, tools)
without ROS, e.g. to decode heatmaps or evaluate models off the robot.

The ROS 2 package itself (messages, nodes, launch files) is built by colcon from
CMakeLists.txt; metadata and dependencies of this core are in setup.cfg.
"""
from setuptools import find_namespace_packages, setup

setup(packages=find_namespace_packages(include=['pose_estimation_ros.core',
                                                'pose_estimation_ros.core.*',
                                                'pose_estimation_ros.conversion',
                                                'pose_estimation_ros.tools']))
