"""Where judged samples come from: each source plans shards of whole problems and, inside a
worker, yields each problem's facts with its submissions."""
