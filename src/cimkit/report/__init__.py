"""Reports: Table III-style tables, plots (data -> render) and Markdown/HTML summaries."""
