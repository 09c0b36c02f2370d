import numpy as np
import pytest

from wenmai.benchmarks.clusterers import (ClusterersConfig, render, run_clusterer, scores,
                                          specific_share)


def test_outliers_count_as_one_cluster():
    assert scores(["a", "a", "b", "b"], [0, 0, -1, -1])["ami"] == pytest.approx(1.0)
    # Outliers spread over two labels are one mixed cluster, not two right ones.
    assert scores(["a", "b", "c", "c"], [-1, -1, 0, 0])["ami"] < 1.0


def _blobs(n_per=30, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3]
    x = np.concatenate([c + 0.05 * rng.normal(size=(n_per, dim)) for c in centres])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), \
        np.repeat(["a", "b", "c"], n_per)


@pytest.mark.parametrize("name", ["kmeans_true_k", "hdbscan", "infomap"])
def test_clusterers_find_well_separated_blobs(name):
    x, labels = _blobs()
    predicted = run_clusterer(name, x, 3, ClusterersConfig())
    assert scores(labels, predicted)["ami"] > 0.9


def test_specific_share_counts_clusters_of_two_or_more():
    tokens = [("芯片", "发布"), ("芯片", "销量"), ("降雪", "北京"), ("降雪", "道路"), ("孤单", "一篇")]
    share, judged = specific_share(np.array([0, 0, 1, 1, 2]), tokens)
    # 芯片 is in all of cluster 0 and 2/5 of the run: 1 / 0.4 = 2.5x, below 3x; 降雪 likewise.
    assert (share, judged) == (0.0, 2)
    tokens += [("其他", "内容")] * 5
    share, judged = specific_share(np.array([0, 0, 1, 1, 2] + [3] * 5), tokens)
    assert (share, judged) == (pytest.approx(2 / 3), 3)  # 芯片, 降雪 now 5x; 其他 is 2x


def test_render_has_every_column():
    row = {"nmi": 0.5, "ami": 0.4, "ari": 0.3, "clusters": 7, "outlier_share": 0.0, "seconds": 1.0}
    report = {"command": "wenmai bench clusterers", "graph": {"k": 7, "min_similarity": 0.4},
              "cluster": {"markov_time": 1.0, "trials": 5},
              "files": {"f.tsv": {"role": "tune", "n": 10, "labels": 2, "dims": 384,
                                  "embed_seconds": 1.0,
                                  "rows": {"infomap": {**row, "specific_top_keyword": 0.5,
                                                       "clusters_judged": 4},
                                           "kmeans_true_k": row}}}}
    text = render(report)
    assert "| clusterer | NMI | AMI | ARI | clusters | outlier share | seconds |" in text
    assert "| infomap | 0.500 | 0.400 | 0.300 | 7 | 0.000 | 1.0 |" in text
