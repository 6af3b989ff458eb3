"""Start-up and footprint of nsinit measured side by side with runc, bubblewrap and unshare (``bench/run``)."""
