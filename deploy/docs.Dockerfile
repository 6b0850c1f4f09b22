# syntax=docker/dockerfile:1
# The API reference the gateway serves at /docs/ (Kubernetes: deploy/k8s/base/docs.yaml):
#   docker build -f deploy/docs.Dockerfile -t suite/docs .
# Swagger UI's files come from a pinned PyPI package (scripts/docs-site.py); the page
# and its initializer from deploy/docs. Static files only, served by unprivileged nginx.

FROM python:3.12-slim-bookworm AS build
COPY scripts/docs-site.py /src/docs-site.py
COPY deploy/docs /src/site
RUN python /src/docs-site.py /out/docs --site /src/site

FROM nginxinc/nginx-unprivileged:1.27-bookworm
COPY --from=build /out/docs /usr/share/nginx/html/docs
# The image's unprivileged user, said here too (Kubernetes runs it as 10101: docs.yaml).
USER 101
LABEL org.opencontainers.image.title="suite-docs"
EXPOSE 8080
