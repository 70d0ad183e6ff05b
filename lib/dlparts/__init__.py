"""dlparts: the shared library of *Parts of Deep Learning*.

Each module holds one idea, introduced in the chapter where the reader first needs it:

- :mod:`dlparts.runtime`: scale (``DLPARTS_SCALE``), device and seeding.
- :mod:`dlparts.arith`: convolution arithmetic and whole-network layer tables.
- :mod:`dlparts.scratch`: from-scratch NumPy layers (forward/backward pairs with a cache).
- :mod:`dlparts.models`: PyTorch models, from LeNet-5 to ResNet and PointNet++.
- :mod:`dlparts.points`: sampling, grouping and interpolation on point sets.
- :mod:`dlparts.data`: the data sets shipped with the book and loaders for the full ones.
- :mod:`dlparts.train`: one small training loop that every chapter reuses.
- :mod:`dlparts.profile`: where a training step's time and memory go, by layer type.
- :mod:`dlparts.augment`, :mod:`dlparts.plot`, :mod:`dlparts.tables`: augmentation, figures
  and result tables.
- :mod:`dlparts.claims`: findings checked beside their evidence, for the book's ledger.
- :mod:`dlparts.experiments`: the experiments one chapter's notebooks share.
"""

# The one place the version is written (pyproject.toml and CITATION.cff read it from here;
# a test checks CITATION.cff agrees).
__version__ = "0.1.0"
