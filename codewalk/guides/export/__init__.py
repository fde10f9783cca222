"""Guide exporters: Markdown (with Mermaid), one self-contained HTML file, CodeTour JSON."""
