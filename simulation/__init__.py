"""Running the platform for real: service processes, the upstream systems around it, and a stream
of realistic cases. Used by the demo, the end-to-end tests and the benchmarks."""
