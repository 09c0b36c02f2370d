"""Where one run's time went (`wenmai run --profile`): per step, per model, batches and padding.

Read from the runner's own metrics after the run, so profiling costs the run nothing:
- steps: the manifest's `stage_seconds` (each named stage's execution time, summed over workers);
- models: what Beam's RunInference records in each handler's namespace (`wenmai.encoder`, ...):
  batches and their latency (`inference_batch_latency_micro_secs`), examples (`num_inferences`,
  or `examples` where RunInference runs whole pre-cut batches and counts those), model loading (`load_model_latency_milli_secs`); plus our handlers' token
  counters (`tokens_real`, `tokens_padded`: the padding share is the part of each padded batch
  that was padding).
"""
from __future__ import annotations

MODELS = ("encoder", "titler", "extractor")


def _value(result, kind: str):
    """{(namespace, name): committed value} of one metric kind ("counters" or "distributions")."""
    try:
        query = result.metrics().query()
    except Exception:  # runners without metrics: an empty profile, never a failed run
        return {}
    out = {}
    for metric in query.get(kind, []):
        key = (metric.key.metric.namespace, metric.key.metric.name)
        value = metric.committed if metric.committed is not None else metric.attempted
        if kind == "counters":
            out[key] = out.get(key, 0) + int(value or 0)
        elif value is not None:  # DistributionResult: sum, count (summed over steps/workers)
            total, count = out.get(key, (0, 0))
            out[key] = (total + value.sum, count + value.count)
    return out


def model_profile(result) -> dict[str, dict]:
    """{model: {"batches", "examples", "seconds", "load_seconds", "tokens_real",
    "tokens_padded", "padding_share"}} for each model that ran."""
    counters, dists = _value(result, "counters"), _value(result, "distributions")
    out = {}
    for model in MODELS:
        ns = f"wenmai.{model}"
        latency_us, batches = dists.get((ns, "inference_batch_latency_micro_secs"), (0, 0))
        examples = counters.get((ns, "examples")) or counters.get((ns, "num_inferences"), 0)
        if not batches and not examples:
            continue
        load_ms, _ = dists.get((ns, "load_model_latency_milli_secs"), (0, 0))
        real = counters.get((ns, "tokens_real"), 0)
        padded = counters.get((ns, "tokens_padded"), 0)
        out[model] = {"batches": batches, "examples": examples,
                      "seconds": round(latency_us / 1e6, 3), "load_seconds": round(load_ms / 1e3, 3),
                      "tokens_real": real, "tokens_padded": padded,
                      "padding_share": round(1 - real / padded, 4) if padded else None}
    return out


def format_profile(manifest: dict) -> str:
    """The profile as text for a person.

    Example (abridged):
        where the time went: 1000 documents in 41.3 s
        step                 seconds  share
        Title                   14.2    37%
        model      batches  examples  seconds  ms/batch  examples/s  load s  padding
        encoder        153    12,009     10.1      66.0      1189.0     0.2      8%
    """
    stages = manifest.get("stage_seconds") or {}
    busy = sum(stages.values()) or 1.0
    lines = [f"where the time went: {manifest['counts'].get('documents', 0)} documents in "
             f"{manifest['seconds']:.1f} s (steps: busy seconds summed over workers)",
             f"{'step':<18}{'seconds':>9}{'share':>7}"]
    for stage, seconds in stages.items():
        if seconds > 0:
            lines.append(f"{stage:<18}{seconds:>9.1f}{seconds / busy:>7.0%}")
    models = manifest.get("inference") or {}
    if models:
        lines.append(f"{'model':<11}{'batches':>8}{'examples':>10}{'seconds':>9}{'ms/batch':>10}"
                     f"{'examples/s':>12}{'load s':>8}{'padding':>9}")
    for model, m in models.items():
        per_batch = 1000 * m["seconds"] / m["batches"] if m["batches"] else 0.0
        rate = m["examples"] / m["seconds"] if m["seconds"] else 0.0
        padding = "-" if m["padding_share"] is None else f"{m['padding_share']:.0%}"
        lines.append(f"{model:<11}{m['batches']:>8,}{m['examples']:>10,}{m['seconds']:>9.1f}"
                     f"{per_batch:>10.1f}{rate:>12.1f}{m['load_seconds']:>8.1f}{padding:>9}")
    return "\n".join(lines)
