"""Runs: the papermill runner and its child, the run index and its page, a cycle's headline,
the run notebooks' cells, pruning, the secret scan, the profile lock, the scheduler, health and
review."""
