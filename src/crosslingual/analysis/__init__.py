"""The analyses behind the chapters: embedding geometry and linguistic regions on our runs and on pretrained
models, each turning runs into the tables that the claims judge (cached in the run store)."""
