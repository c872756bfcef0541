"""Developer tools of pose_estimation_ros (model preparation); no ROS needed."""
