"""ROS 2 nodes: thin shells around pose_estimation_ros.core."""
