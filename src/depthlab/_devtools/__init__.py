"""Developer tools that check the code base itself (not part of the public API).

``python -m depthlab._devtools.imports`` checks that imports only point down the layers.
"""
