"""Pure functions: measurements -> durations, each a range with the figures it came from.

``model`` (Estimate, Rate, formatting), ``speed`` (the probed server's speed and the one
estimator function), ``throughput`` (default rates and the Calibration lint, plan, verify and
apply share)."""
