"""Conformance of lossapi with the two guides and with peer libraries.

Part 1 replays every worked example of ``reference-guide.md`` and
``loss-functions-notes.md`` (stored as data in ``cases/``) on every backend
this machine can run, in float32 and float64, values and gradients, and lists
the guides' errata. Part 2 compares lossapi with torch.nn.functional and
optax on seeded random inputs. Run ``python -m conformance --help``.

Importing this package imports no array framework.
"""
