"""HTTP routes: thin — parse, run the flow, render."""
