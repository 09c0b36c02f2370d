"""`wenmai run --profile`: per-model figures from runner metrics, and the printed table."""
from types import SimpleNamespace

from wenmai.profile import format_profile, model_profile


def _metric(namespace, name, value):
    return SimpleNamespace(key=SimpleNamespace(metric=SimpleNamespace(namespace=namespace,
                                                                      name=name)),
                           committed=value, attempted=None)


class _Result:
    def metrics(self):
        dist = lambda total, count: SimpleNamespace(sum=total, count=count)  # noqa: E731
        counters = [_metric("wenmai.encoder", "num_inferences", 300),
                    _metric("wenmai.encoder", "tokens_real", 900),
                    _metric("wenmai.encoder", "tokens_padded", 1000),
                    _metric("wenmai.clean", "dropped_empty", 2)]
        dists = [_metric("wenmai.encoder", "inference_batch_latency_micro_secs",
                         dist(1_500_000, 2)),
                 _metric("wenmai.encoder", "inference_batch_latency_micro_secs",
                         dist(500_000, 1)),  # a second step (pieces vs whole): summed
                 _metric("wenmai.encoder", "load_model_latency_milli_secs", dist(250, 1))]
        return SimpleNamespace(query=lambda: {"counters": counters, "distributions": dists})


def test_model_profile_from_metrics():
    profile = model_profile(_Result())
    assert profile == {"encoder": {"batches": 3, "examples": 300, "seconds": 2.0,
                                   "load_seconds": 0.25, "tokens_real": 900,
                                   "tokens_padded": 1000, "padding_share": 0.1}}


def test_model_profile_without_metrics_is_empty():
    class NoMetrics:
        def metrics(self):
            raise NotImplementedError

    assert model_profile(NoMetrics()) == {}


def test_format_profile_lists_steps_and_models():
    manifest = {"counts": {"documents": 10}, "seconds": 4.0,
                "stage_seconds": {"Title": 3.0, "Extract": 1.0, "ReadCorpus": 0.0},
                "inference": model_profile(_Result())}
    text = format_profile(manifest).splitlines()
    assert text[0].startswith("where the time went: 10 documents in 4.0 s")
    assert text[2].split() == ["Title", "3.0", "75%"] and text[3].split() == ["Extract", "1.0", "25%"]
    assert not any(line.startswith("ReadCorpus") for line in text)  # idle steps left out
    assert text[-1].split() == ["encoder", "3", "300", "2.0", "666.7", "150.0", "0.2", "10%"]


def test_run_takes_profile_flag():
    from wenmai.cli.args import dataclass_from_args
    from wenmai.job import RunConfig, parse_args

    args, _, _ = parse_args(["in.txt", "--output", "out", "--profile"])
    assert dataclass_from_args(RunConfig, args).profile
    args, _, _ = parse_args(["in.txt", "--output", "out"])
    assert not dataclass_from_args(RunConfig, args).profile
