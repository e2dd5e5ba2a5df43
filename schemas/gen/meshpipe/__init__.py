"""Generated protobuf code; run `make proto` to refresh."""
