"""OptimizationJob: a solver pod (or an Indexed Job of them) with limits, results in status."""
