# One image for the four services; docker-compose.yml picks the service
# with `command: python -m services.<name>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (see [tool.setuptools] in pyproject.toml);
# tests, docs and infra stay out of the image.
COPY pyproject.toml constraints.txt ./
COPY careplan/ careplan/
COPY contracts/ contracts/
COPY shared/ shared/
COPY services/ services/

# Same pinned versions as development and CI.
RUN pip install -c constraints.txt .

# Services need no privileges.
RUN useradd --system --no-create-home careplan
USER careplan

CMD ["python", "-m", "services.activation"]
