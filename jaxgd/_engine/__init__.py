"""The training engine behind :func:`jaxgd.fit` and :func:`jaxgd.sweep` (private).

From the data to the result, each module imports only those above it:

* ``checks``: every input refused with an error that names it and the fix;
* ``plan``: the loop's settings (``LoopOptions``) checked into the static ``Plan``;
* ``state``: the loop state, the records, ``FitResult``;
* ``order``: which examples update ``t`` sees (``epoch_order``, the data order);
* ``step``: one update of gradient descent and the losses it is judged by;
* ``events``: which lanes converged or diverged in a pass;
* ``lanes``: many runs as one (``Lanes``, ``lane_map``);
* ``chunks``: the loop, in chunks with cheap checks and replays;
* ``run``: whole runs, from the start to the ``FitResult``.

:func:`jaxgd.reference.reference_fit` states what the engine computes, plainly.
"""
