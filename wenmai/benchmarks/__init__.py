"""Benchmarks: each module measures one thing and returns a dict of figures from one run;
`wenmai.benchmarks.report` runs them together and writes `docs/benchmarks.{json,md}`."""
