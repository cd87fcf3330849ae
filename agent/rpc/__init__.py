"""The agent's gRPC boundary: the server with its health service and TLS (`server`), the token check
(`auth`), the handlers (`servicer`) and the protobuf mapping (`convert`). The only package of the
agent that imports the generated code in `shared.rpc`."""
