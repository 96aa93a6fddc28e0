"""Side-by-side checks of phonjax against phonopy; run from the repository root (``python -m validation.<script>``).

``validation.reference`` is the one phonopy set-up shared with the tests.
"""
