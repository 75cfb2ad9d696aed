"""resgenome: the residual networks of "Residual Neural Network in Genomics" (Sabba et al., 2022), made usable.

Two tasks share one package: super-enhancer prediction from 36 features per enhancer (ResSEN) and viral sequence
detection from 300-bp DNA (ResVG), each with the CNN it was compared with and classical baselines.
"""

__version__ = "0.1.0"
