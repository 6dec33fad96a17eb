"""Event file readers for forensic runs: formats told apart by content, archives, directories."""
