"""What work costs: step throughput and its report, operator profiles, a sweep's work estimate."""
