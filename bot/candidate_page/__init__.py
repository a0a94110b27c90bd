"""The candidate page `/c/{token}` (docs/candidate-page.md): its guard (tokens, limits,
headers, the client's address behind a proxy), what it shows, and its static files."""
