# One image for the web server and the workers. On a GPU host, pip's torch wheel
# brings its CUDA libraries; the NVIDIA container toolkit provides the driver.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 LBLAB_DATA_DIR=/data LBLAB_RUNS_DIR=/runs
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# With brotli installed collectstatic also writes .br copies (BokehJS: 279 KB against gzip's
# 351 KB), which browsers take over HTTPS; they cost half a minute of collecting on two cores,
# so only the image has them.
RUN pip install --no-cache-dir brotli

COPY . .
RUN python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && daphne -b 0.0.0.0 -p 8000 dashboard.asgi:application"]
