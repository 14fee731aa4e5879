"""`nnqft reproduce` writes one record per claim, and the claims hold (at reduced size)."""

import json

from nnqft_ppl import report
from nnqft_ppl.cli import main


def test_reproduce_writes_report_and_claims_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "QUICK", report.Sizes(nets=60_000, widths=(2, 3, 4, 8)))
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "report.json").read_text())
    claims = written["claims"]
    assert {
        "gaussian-limit-cos_net",
        "scaling-r4-relu_net",
        "engines-agree-erf_net",
        "symmetry-gauss_net-translated",
        "coupling-flow-relu_net",
        "six-point-eft-relu_net",
        "dual-g2-cos-gauss",
        "dual-g4c-cos-gauss",
        "dual-g4c-difference-cos-fourier",
        "dual-symmetry-gauss_net-translations",
        "dual-symmetry-gauss_net-rotations",
        "dual-internal-cos_doublet_net-eighth-turn",
        "phi4-tree-level-d1",
        "phi4-one-loop-g2-d1",
        "independence-breaking-shared-scale-N200",
        "independence-breaking-pair-coupling",
        "landscape-double-well-moduli",
        "landscape-cos-net-unique-vacuum",
        "mixed-midpoint-peak",
        "action-cos-net-quartic",
        "action-phi4-round-trip",
    } <= {c["id"] for c in claims}
    for claim in claims:
        assert set(claim) >= {"id", "statement", "theory", "measured", "stderr", "deviation_sigma", "pass"}
        assert claim["pass"], claim
    assert (tmp_path / "scan-cos_net.png").stat().st_size > 0
    assert "claims pass" in (tmp_path / "report.md").read_text()
