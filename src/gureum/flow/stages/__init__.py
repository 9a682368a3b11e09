"""One stage per file, each `async (ctx, next) -> Reply`."""
