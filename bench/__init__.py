"""`make bench`: how fast the platform is, next to what its Kafka and PostgreSQL can do.

Everything runs against a real Kafka and PostgreSQL with the services as separate processes
(`simulation.processes.Platform`), fed by the load driver (`simulation.load.Driver`). The run
measures, in one go:

- sustained end-to-end throughput at open throttle (assessment in, final event out);
- latency assessment -> decision and assessment -> final event at fixed offered rates;
- CPU seconds per case and resident memory of every service process (from /proc);
- the same with 1 million plans seeded instead of 10 thousand, and with two instances of the
  busiest service;
- two ceilings: a bare aiokafka consume-and-produce chain with the same hops and message sizes
  (no database, no validation), and PostgreSQL's own rate for the services' statements
  (pgbench with scripts of those statements).

`python -m bench` writes docs/benchmarks.md and its plot; `python -m bench --quick` does the
same at a small scale to check the harness (a few minutes). See docs/benchmarks.md.
"""
