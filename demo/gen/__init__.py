"""Generated demo code; run `python -m meshpipe.demo.codegen`."""
