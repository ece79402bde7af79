"""The paper's claims: verdicts, summary tables and figures, the extras' checks."""
