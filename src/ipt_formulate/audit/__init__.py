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
* :func:`scenario_records`, :func:`write_scenarios`: a labelled synthetic cohort written from
  the clinical descriptions of the problem areas (its truth does not come from the rules).
* :func:`calibrate`, :func:`write_tuned_pack`: rule weights fitted to labels, with
  cross-validated evidence, written as a pack that extends the base.
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
from ._calibrate import (
    CalibrationError,
    CalibrationOptions,
    CalibrationReport,
    Estimate,
    WeightChange,
    calibrate,
)
from ._dask import formulate_bag
from ._dataframe import to_dataframe
from ._diff import CohortDiff, FocusChange, PackDiff, RuleCause, cohort_diff, diff_packs
from ._influence import InfluenceReport, RuleInfluence, influence
from ._scenarios import SCENARIOS, Scenario, ScenarioOptions, scenario_records, write_scenarios
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
from ._tuned import write_tuned_pack

__all__ = [
    "SCENARIOS",
    "AgreementReport",
    "BatchResult",
    "BatchSummary",
    "CalibrationError",
    "CalibrationOptions",
    "CalibrationReport",
    "CohortDiff",
    "Disagreement",
    "Estimate",
    "FocusChange",
    "InfluenceReport",
    "Kappa",
    "Label",
    "PackDiff",
    "Parameter",
    "ParameterResult",
    "RuleCause",
    "RuleInfluence",
    "Scenario",
    "ScenarioOptions",
    "SensitivityReport",
    "SynthOptions",
    "WeightChange",
    "agreement",
    "batch_dask",
    "batch_file",
    "build_trace",
    "calibrate",
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
    "scenario_records",
    "sensitivity",
    "summarize",
    "synth_records",
    "to_dataframe",
    "tornado_chart",
    "write_cohort",
    "write_scenarios",
    "write_tuned_pack",
]
