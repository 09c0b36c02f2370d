# wenmai worker image for Dataflow (custom container), Flink or Spark portable runners.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/wenmai/worker:0.1.0 .                 # GPU (default)
#   docker build --build-arg VARIANT=cpu -t .../worker-cpu:0.1.0 .                     # CPU only
#
# Built on Beam's own Python 3.11 SDK image, so the SDK harness (/opt/apache/beam/boot) matches
# the apache-beam version the pipeline is submitted with.
# The Dataflow GPU driver is installed on the host by the accelerator service option
# `install-nvidia-driver`; the image only needs the CUDA user-space libraries the wheels carry.
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

ARG VARIANT=gpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1

WORKDIR /opt/wenmai
COPY setup.py setup.cfg README.md ./
COPY wenmai ./wenmai
COPY pipelines ./pipelines
COPY models ./models
COPY schemas ./schemas

# GPU: PyPI's Linux torch wheel is the CUDA 12 build, and faiss-gpu-cu12 (same `faiss` module,
# CUDA runtime and cuBLAS from PyPI's nvidia-* wheels) replaces faiss-cpu. CPU: torch from the
# PyTorch CPU index, so the image carries no CUDA libraries.
RUN if [ "$VARIANT" = "gpu" ]; then pip install "torch==2.13.0"; \
    else pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu; fi \
 && pip install ".[gcp]" \
 && if [ "$VARIANT" = "gpu" ]; then pip uninstall -y faiss-cpu && pip install "faiss-gpu-cu12>=1.8"; fi \
 && python -c "import wenmai.models.handlers, wenmai.pipelines.pipeline, faiss, infomap, igraph, jieba; jieba.initialize()" \
 && python -m wenmai.cli run --help > /dev/null

# The SDK harness stays the entry point, as Beam's custom-container contract requires.
ENTRYPOINT ["/opt/apache/beam/boot"]
