"""The bottom layer: atomic writing, the one importer of dotted class paths, and the eval-mode context.

Nothing here imports another part of ganlit except ``ganlit.errors``.
"""
