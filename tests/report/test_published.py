"""The published η_τ column: every value the project records from the paper, against the pipeline's."""

import pytest

from pipeline.report.published import PUBLISHED_FINAL
from pipeline.report.topology import eta_comparison


@pytest.mark.parametrize(("arch", "dataset"), sorted(PUBLISHED_FINAL))
def test_the_computed_final_reproduces_each_recorded_published_final(arch, dataset):
    final = eta_comparison(arch, dataset).set_index("layer").loc["final"]
    assert final["published"] == PUBLISHED_FINAL[(arch, dataset)]
    assert final["paper_eta_tau"] == pytest.approx(final["published"], abs=5e-5)  # to its printed digits


def test_pairs_without_a_recorded_value_leave_the_column_empty():
    frame = eta_comparison("vgg11", "cifar10")
    assert frame["published"].isna().all()
