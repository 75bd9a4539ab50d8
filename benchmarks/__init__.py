"""`jaxgd bench`: sweep throughput against the ways people train many runs today.

Installed inside the package as ``jaxgd.benchmarks``; from a checkout,
``python -m benchmarks.bench`` runs the same as ``jaxgd bench``.
"""
