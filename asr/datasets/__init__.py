"""Corpus recipes: download_X / prepare_X writing JSON-lines manifests."""
