"""The Gradio demo and the `worldfm` command line."""
