"""The experiments of `jaxgd reproduce`: one flat script per topic of the notes.

Installed inside the package as ``jaxgd.experiments``; each script is also run by its file
path (:func:`jaxgd.report.run_experiment_file`), and ``reproduce.py`` runs them all.
"""
