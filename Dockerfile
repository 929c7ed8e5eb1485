# syntax=docker/dockerfile:1
# Build: docker build -t gateway .
# Run:   docker run -p 8080:8080 -e GATEWAY_SECRET_KEY=... -e GATEWAY_REDIS_ADDR=redis:6379 \
#          -e GATEWAY_UPSTREAMS_0_URL=http://app:8000 -v $PWD/policies:/etc/gateway/policies:ro gateway
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/djangate/gateway/internal/cli.Version=${VERSION}" \
      -o /out/gateway ./cmd/gateway

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="Django's auth system as a reverse proxy: login, Redis sessions, Rego policies"
COPY --from=build /out/gateway /usr/local/bin/gateway
# Mount your own config.yaml and policies/ over these to customise them.
COPY --chown=nonroot:nonroot config.yaml /etc/gateway/config.yaml
COPY --chown=nonroot:nonroot policies/ /etc/gateway/policies/
ENV GATEWAY_CONFIG=/etc/gateway/config.yaml \
    GATEWAY_POLICY_DIR=/etc/gateway/policies
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
