"""mcpops_solver: the runtime of OptimizationJob solver pods.

Reads a linear or mixed-integer problem (the project's JSON/YAML model form,
MPS or LP, plain or gzipped), solves it with an OR-Tools backend chosen by the
job or by ``auto``, and stores the result in ConfigMaps owned by the job.

Modules the operator may import without OR-Tools: :mod:`mcpops_solver.model`
(the model form, embedded in the CRD), :mod:`mcpops_solver.results` (the
ConfigMap and termination-message contract, ``summarize_scenarios``) and
:mod:`mcpops_solver.scenarios` (scenario counting and expansion).
"""

__version__ = "0.1.0"
