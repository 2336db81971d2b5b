"""The ``mde-pyg`` usage text (imports nothing, so ``mde-pyg --help`` is
instant)."""

COMMANDS = (
    "train",
    "evaluate",
    "select",
    "recommend",
    "export",
    "prepare",
    "import",
    "info",
    "encode-text",
    "encode-images",
)

USAGE = f"""usage: mde-pyg {{{",".join(COMMANDS)}}} ...

  mde-pyg train [KEY=VALUE ...] [-m]   train a model (Hydra overrides, e.g.
                                       model=lightgcn dataset=baby seed=1;
                                       `train --help` lists every key)
  mde-pyg evaluate RUN_DIR             metrics of a finished run's best checkpoint
                                       (--device cpu|cuda|auto)
  mde-pyg select SWEEP_DIR             the best setting of a `train -m` sweep,
                                       chosen on validation (--monitor METRIC)
  mde-pyg recommend RUN_DIR --users 0,5,7 [--out recs.csv]
                                       top-k items per user, printed or written
                                       (raw ids when the data has id maps)
  mde-pyg export RUN_DIR --out DIR     final user and item embeddings (.npy)
  mde-pyg prepare NAME ... [--root D]  build a real dataset by name into
                                       ~/.cache/mde_pyg/datasets: ml100k (from
                                       pip), baby|sports|clothing --from DIR
  mde-pyg import FILE --out DIR        raw interactions (your own ids) into an
                                       MMRec folder with id maps; --images DIR
                                       adds image features (-h for options)
  mde-pyg info [KEY=VALUE ...]         versions and dataset statistics
  mde-pyg encode-text ITEMS --out F    encode item text into F (-h for options)
  mde-pyg encode-images IMAGES --out F encode item images into F (-h for options)
"""
