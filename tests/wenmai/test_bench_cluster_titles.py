import numpy as np
import pytest

from wenmai.benchmarks.cluster_titles import central_source, char_recall, keyword_hits


def test_keyword_hits_and_char_recall():
    assert keyword_hits("华为发布新手机", ["华为", "手机", "芯片"]) == pytest.approx(2 / 3)
    assert keyword_hits("任何", []) == 0.0
    assert char_recall("北京降温", "北京今天降温了") == 1.0
    assert char_recall("北北", "北京") == 0.5  # multiplicity counts
    assert char_recall("", "北京") == 0.0


def test_central_source_takes_the_members_nearest_the_mean():
    members = [{"text": "甲。", "embedding": [1.0, 0.0]}, {"text": "乙", "embedding": [0.0, 1.0]},
               {"text": "丙", "embedding": [np.sqrt(0.5), np.sqrt(0.5)]}]
    assert central_source(members, 2) == "丙。甲"
