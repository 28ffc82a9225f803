"""The embedded default run: the whole ArcherChat pipeline, tiny, on CPU, on the corpus shipped in the package.

    python runs/cpu.py

Stages are added here as the notebooks export them; see nbs/07_speedrun.ipynb.
"""
from archerchat.common import base_dir
from archerchat.data import list_shards
import pyarrow.parquet as pq

shards = list_shards()
n_docs = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
print(f"embedded corpus: {len(shards)} shards, {n_docs} documents; artifacts under {base_dir()}")
