"""OSA-HCIM: saliency-aware hybrid digital/analog compute-in-memory, simulated bit by bit.

Submodules (import them directly; importing this package loads nothing heavy):

- :mod:`cimkit.osa.bitplane` - orders k = i + j of an 8b x 8b (or 4b x 4b) MAC, per-order sums
  over 144-row chunks, the digital / analog / discard split by B_D/A, the allocation table.
- :mod:`cimkit.osa.analog` - the analog window: charge-share sum, clip, 3-bit SAR, noise, SNR.
- :mod:`cimkit.osa.ose` - the saliency evaluator (saliency S and the choice of B_D/A).
- :mod:`cimkit.osa.layers` - ``HCIMConv2d`` / ``HCIMLinear`` torch modules on the simulator.
- :mod:`cimkit.osa.train`, :mod:`cimkit.osa.thresholds` - training and threshold search.

See docs/osa-hcim.md.
"""
