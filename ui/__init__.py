"""The PaperChat web UI: a Gradio chat over `rag.PaperChat`, with no logic of its own."""
