"""The one request flow: identify → authorize → guard → budget & rate → cache → route → call,
with accounting and audit wrapped around it."""
