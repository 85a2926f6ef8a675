"""The report stage: what the workflow's last rules write from the results of the others. The tables
(:mod:`.tables`), the paper's claims with their intervals and tests (:mod:`.claims`), the figures (:mod:`.figures`),
the plain-text summary (:mod:`.summary`) and the results page (:mod:`.results_page`); which tables and figures a run
has is :data:`igae.layout.OUTPUTS`."""
