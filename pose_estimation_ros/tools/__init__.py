"""Command-line tools: model preparation (get_model), evaluation (evaluate_coco),
benchmark, documentation (param_docs) need no ROS; the bag tools (process_bag,
make_bag) use rclpy message classes."""
