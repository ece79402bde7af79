"""The explanation grid: BN's effect along each factor, its verdicts, tables and figures."""
