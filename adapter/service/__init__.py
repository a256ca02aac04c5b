"""``b12-adapter serve``: the HTTP service for integration engines (SPEC section 6).

FastAPI and uvicorn are an optional extra (``pip install 'b12-fhir-adapter[serve]'``); nothing
outside this package imports them, so ``check``, ``sync`` and ``load`` run without them.
Every endpoint runs the one driver (``adapter.driver``): a posted Bundle through a
``MemorySource``, a claim on the configured FHIR server through a ``ServerSource``.
"""
