"""Running a sweep: its grid, cells, jobs, executors, GPU placement and the datasets it loads."""
