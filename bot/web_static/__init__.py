"""Static files the web pages share (the candidate page and the playground load
`chat.js` before their own script; docs/candidate-page.md)."""
