"""The playground: a page to try the whole product in a browser (handlers/playground.py)."""
