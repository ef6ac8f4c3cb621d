"""The worker side: Celery tasks (thin: take an id, re-read the row, call the adapter), the
training adapter (a Run row to trainer.train.Trainer and back, live) and the analysis adapter."""
