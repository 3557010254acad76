"""Cross-encoder reranking study: Lion vs AdamW (package for every rule of the workflow)."""
