"""Audit tooling for researchers: traces, batch runs, agreement with clinicians, pack diffs
and synthetic cohorts. See ``docs/auditing.md``.

* :func:`derivation_graph`, :func:`graph_to_json`, :func:`graph_to_dot`: the derivation of a
  traced formulation (``formulate(..., trace=True)``) as a graph.
* :func:`formulate_many`, :func:`batch_file`: many inventories, several processes, one result
  per input, in order; :func:`batch_dask`, :func:`formulate_bag` on a Dask cluster (optional
  extra ``[dask]``).
* :func:`load_labels`, :func:`agreement`, :func:`cohen_kappa`: agreement with clinicians.
* :func:`diff_packs`, :func:`cohort_diff`: what changes between two rule packs.
* :func:`synth_records`, :func:`write_cohort`: reproducible synthetic cohorts.
* :func:`influence`: leave-one-rule-out influence of each rule on a cohort;
  :func:`sensitivity`, :func:`tornado_chart`: how far each weight, option and threshold can
  move before a primary focus changes.
* :func:`to_dataframe`: formulations as a pandas DataFrame (optional extra ``[dataframe]``).
"""

from __future__ import annotations

from ._agreement import (
    AgreementReport,
    Disagreement,
    Kappa,
    Label,
    agreement,
    cohen_kappa,
    load_labels,
)
from ._batch import (
    BatchResult,
    BatchSummary,
    batch_dask,
    batch_file,
    default_engine,
    formulate_many,
)
from ._dask import formulate_bag
from ._dataframe import to_dataframe
from ._diff import CohortDiff, FocusChange, PackDiff, RuleCause, cohort_diff, diff_packs
from ._influence import InfluenceReport, RuleInfluence, influence
from ._sensitivity import (
    Parameter,
    ParameterResult,
    SensitivityReport,
    sensitivity,
    tornado_chart,
)
from ._summary import summarize
from ._synth import SynthOptions, synth_records, write_cohort
from ._trace import (
    build_trace,
    derivation_graph,
    graph_to_dot,
    graph_to_json,
    hypothesis_key,
)

__all__ = [
    "AgreementReport",
    "BatchResult",
    "BatchSummary",
    "CohortDiff",
    "Disagreement",
    "FocusChange",
    "InfluenceReport",
    "Kappa",
    "Label",
    "PackDiff",
    "Parameter",
    "ParameterResult",
    "RuleCause",
    "RuleInfluence",
    "SensitivityReport",
    "SynthOptions",
    "agreement",
    "batch_dask",
    "batch_file",
    "build_trace",
    "cohen_kappa",
    "cohort_diff",
    "default_engine",
    "derivation_graph",
    "diff_packs",
    "formulate_bag",
    "formulate_many",
    "graph_to_dot",
    "graph_to_json",
    "hypothesis_key",
    "influence",
    "load_labels",
    "sensitivity",
    "summarize",
    "synth_records",
    "to_dataframe",
    "tornado_chart",
    "write_cohort",
]
