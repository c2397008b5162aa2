# syntax=docker/dockerfile:1
#
# am-fanout: a static binary on distroless. The build command below is the
# one `make build` runs, so what CI builds is what the image ships.

FROM golang:1.26 AS build
WORKDIR /src

# Module downloads are their own layer so a code change does not refetch them.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown
ARG TARGETOS=linux
ARG TARGETARCH=amd64

RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/am-fanout ./cmd/am-fanout \
 && mkdir -p /out/storage

# distroless/static carries CA certificates and /etc/passwd with the nonroot
# user, and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="am-fanout" \
      org.opencontainers.image.description="Alertmanager webhook receiver that fans every alert out to many targets, each behind its own circuit breaker" \
      org.opencontainers.image.source="https://github.com/am-fanout/am-fanout" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=build /out/am-fanout /bin/am-fanout
# Owned by the runtime user, so that a volume Docker creates here is writable.
COPY --from=build --chown=65532:65532 /out/storage /var/lib/am-fanout

# The root filesystem can be mounted read-only: the outbox and dedup state are
# the only things am-fanout writes, and they go to --storage.path, which must
# be a volume (emptyDir or a PersistentVolumeClaim).
USER 65532:65532
VOLUME ["/var/lib/am-fanout"]
EXPOSE 9099

ENTRYPOINT ["/bin/am-fanout"]
CMD ["--config.file=/etc/am-fanout/am-fanout.yml", "--storage.path=/var/lib/am-fanout"]
