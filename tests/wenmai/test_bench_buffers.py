"""`wenmai bench buffers`: its hooks see a real FnApiRunner's stages and groupings, and leave
Beam as it was."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

from wenmai.benchmarks.buffers import BufferTrace, stage_label


def _run_group_pipeline():
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = (p
             | "Pairs" >> beam.Create([(i % 7, "x" * 100) for i in range(700)])
             | "Group" >> beam.GroupByKey()
             | "Count" >> beam.MapTuple(lambda k, vs: (k, len(list(vs)))))


def test_trace_records_the_grouping_and_every_bundle():
    with BufferTrace() as trace:
        _run_group_pipeline()
    groups = [g for g in trace.groupings if g["keys"] == 7]
    assert len(groups) == 1 and groups[0]["values"] == 700
    assert groups[0]["encoded_mib"] >= 0.0 and "Group" in groups[0]["stage"]
    assert any("Group" in s["stage"] for s in trace.stages)
    assert all(s["rss_mib"] > 0 for s in trace.stages)
    report = trace.report(top=2)
    assert report["largest_groupings"][0]["values"] == 700
    assert len(report["largest_rss_steps"]) == 2


def test_trace_restores_beam_on_exit():
    originals = (execution.ListBuffer.__init__, execution.GroupingBuffer.append,
                 execution.GroupingBuffer.partition, fn_runner.FnApiRunner._execute_bundle)
    with BufferTrace():
        assert execution.GroupingBuffer.partition is not originals[2]
    assert (execution.ListBuffer.__init__, execution.GroupingBuffer.append,
            execution.GroupingBuffer.partition, fn_runner.FnApiRunner._execute_bundle) == originals
    trace = BufferTrace()
    with trace:
        pass
    _run_group_pipeline()  # after exit nothing more is recorded
    assert trace.stages == [] and trace.groupings == []


def test_stage_label_names_the_first_step():
    name = "(((ref_AppliedPTransform_Summarize-JoinByDocId_12)+(ref_AppliedPTransform_X"
    assert stage_label(name) == "Summarize-JoinByDocId_12"
