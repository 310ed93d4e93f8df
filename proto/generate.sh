#!/usr/bin/env bash
# Regenerates the ts-proto output in proto/gen/ from every proto/*.proto.
# Needs protoc (Debian: protobuf-compiler). The output is committed, so a build needs no protoc.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf gen && mkdir -p gen
protoc \
  --plugin=protoc-gen-ts_proto=../node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out=gen \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,forceLong=bigint,importSuffix=.js,env=node,useOptionals=none,oneof=unions-value,outputTypeRegistry=false \
  -I . ./*.proto
