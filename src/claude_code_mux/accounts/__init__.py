"""Several credentials per provider: quota readings, pools, sticky sessions (pure; no I/O)."""
