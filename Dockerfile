# wenmai worker image for Dataflow (custom container), Flink or Spark portable runners.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/wenmai/worker:0.1.0 .                 # GPU (default)
#   docker build --build-arg VARIANT=cpu -t .../worker-cpu:0.1.0 .                     # CPU only
#
# Built on Beam's own Python 3.11 SDK image, so the SDK harness (/opt/apache/beam/boot) matches
# the apache-beam version the pipeline is submitted with. On Linux, PyPI's torch==2.13.0 wheel is
# the CUDA build; the GPU variant also swaps faiss-cpu for faiss-gpu (same `faiss` module).
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

RUN pip install "torch==2.13.0" ".[gcp]" \
 && if [ "$VARIANT" = "gpu" ]; then pip uninstall -y faiss-cpu && pip install "faiss-gpu==1.15.1"; fi \
 && python -c "import wenmai.models.handlers, wenmai.pipelines.pipeline, faiss, infomap, igraph, jieba; jieba.initialize()"

# The SDK harness stays the entry point, as Beam's custom-container contract requires.
ENTRYPOINT ["/opt/apache/beam/boot"]
