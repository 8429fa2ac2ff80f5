# Images for korvid's two binaries, static and running as a non-root user on
# an empty base:
#
#   docker build --target controller -t korvid/controller:dev .
#   docker build --target webhook    -t korvid/webhook:dev .
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# The build context has no .git: `make docker-build` passes git describe's
# answer. Empty, internal/version falls back to its default.
ARG VERSION=
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X github.com/korvid/korvid/internal/version.Version=${VERSION}" \
    -o /out/ ./cmd/controller ./cmd/webhook
# An /etc/passwd naming the non-root user, and an empty writable /tmp.
RUN echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /out/passwd && \
    mkdir -m 1777 /out/tmp

FROM scratch AS base
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/tmp /tmp
USER 65532:65532

FROM base AS controller
COPY --from=build /out/controller /controller
ENTRYPOINT ["/controller"]

FROM base AS webhook
COPY --from=build /out/webhook /webhook
ENTRYPOINT ["/webhook"]
