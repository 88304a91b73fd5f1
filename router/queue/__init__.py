"""Redis: the wake-up list, cancel signals, run-done frames and resumable-stream replay."""
