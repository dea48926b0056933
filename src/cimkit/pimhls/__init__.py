"""PIM-HLS: heterogeneous SRAM/RRAM PIM accelerators, DP weight scheduling, tile tuning."""
