from mde_pyg.nn.lg_conv import BipartiteLGConv

__all__ = ["BipartiteLGConv"]
