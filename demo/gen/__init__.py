"""Generated demo code; run `python -m demo.codegen`."""
